// Sharaka's small behaviours. The Content-Security-Policy forbids inline scripts
// and inline handlers, so templates only mark elements with data- attributes.
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") {
      fn();
    } else {
      document.addEventListener("DOMContentLoaded", fn);
    }
  }

  ready(function () {
    // <select data-autosubmit>: send the form as soon as a choice is made.
    // The form keeps a real submit button for people without JavaScript;
    // it stays reachable by screen readers but is hidden from sight.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      var form = select.form;
      if (!form) {
        return;
      }
      form.querySelectorAll("[data-autosubmit-button]").forEach(function (button) {
        button.classList.add("visually-hidden");
      });
      select.addEventListener("change", function () {
        if (typeof form.requestSubmit === "function") {
          form.requestSubmit();
        } else {
          form.submit();
        }
      });
    });

    // <form data-confirm="Question?"> or <button data-confirm="...">: ask first.
    document.addEventListener("submit", function (event) {
      var form = event.target;
      var submitter = event.submitter;
      var message = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
      if (message && !window.confirm(message)) {
        event.preventDefault();
      }
    });
    document.querySelectorAll("a[data-confirm]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (!window.confirm(link.getAttribute("data-confirm"))) {
          event.preventDefault();
        }
      });
    });

    // After a failed submission, put the cursor on the first field to correct.
    var invalid = document.querySelector("main .is-invalid");
    if (invalid && typeof invalid.focus === "function") {
      invalid.focus();
    }
  });
})();
