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

    // <textarea data-required-when="decision=reject">: required only when the form is sent
    // with that button (a comment is needed to send an agreement back, not to approve it).
    // The click comes before the browser checks the form, so its own validation applies.
    document.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button[type='submit']") : null;
      if (!button || !button.form) {
        return;
      }
      button.form.querySelectorAll("[data-required-when]").forEach(function (field) {
        var rule = field.getAttribute("data-required-when").split("=");
        field.required = button.name === rule[0] && button.value === rule[1];
      });
    });

    // <input type="date" data-max-today>: no date after today (in the reader's own time zone).
    document.querySelectorAll("input[type='date'][data-max-today]").forEach(function (input) {
      var now = new Date();
      var pad = function (n) { return (n < 10 ? "0" : "") + n; };
      input.max = now.getFullYear() + "-" + pad(now.getMonth() + 1) + "-" + pad(now.getDate());
    });

    // <div data-hidden-when="recurrence=once">: hidden while the form's field `recurrence` has
    // that value (an end date means nothing for a one-off deliverable). Without JavaScript it stays.
    document.querySelectorAll("[data-hidden-when]").forEach(function (block) {
      var rule = block.getAttribute("data-hidden-when").split("=");
      var form = block.closest("form");
      var control = form ? form.elements.namedItem(rule[0]) : null;
      if (!control) {
        return;
      }
      var update = function () {
        block.hidden = control.value === rule[1];
      };
      control.addEventListener("change", update);
      update();
    });

    // <button data-print hidden>: opens the browser's print dialog. Hidden until now,
    // since without JavaScript it could do nothing (the browser's own Print still works).
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        window.print();
      });
    });

    // <button data-copy="#field" hidden>: copies the field's text (shown only where the
    // clipboard is available); [data-select-on-focus] selects a read-only value for copying by hand.
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      var field = document.querySelector(button.getAttribute("data-copy"));
      if (!field || !navigator.clipboard) {
        return;
      }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(field.value).then(function () {
          button.classList.add("active");
        });
      });
    });
    document.querySelectorAll("[data-select-on-focus]").forEach(function (field) {
      field.addEventListener("focus", function () {
        field.select();
      });
    });

    // After a failed submission, put the cursor on the first field to correct.
    var invalid = document.querySelector("main .is-invalid");
    if (invalid && typeof invalid.focus === "function") {
      invalid.focus();
    }
  });
})();

// The portfolio board links to one action of an agreement (/agreements/<id>#action-<name>).
// A move that needs a reason sits in a closed <details>: open it and put the cursor in it.
(function () {
  "use strict";

  function openLinkedAction() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    if (id.indexOf("action-") !== 0) {
      return;
    }
    var item = document.getElementById(id);
    if (!item) {
      return;
    }
    item.querySelectorAll("details.action-details").forEach(function (details) {
      details.open = true;
    });
    // The first field or button that can take the focus (an optional comment stays folded away).
    var fields = item.querySelectorAll("textarea, input:not([type='hidden']), select, button:not([disabled])");
    for (var i = 0; i < fields.length; i += 1) {
      fields[i].focus({ preventScroll: true });
      if (document.activeElement === fields[i]) {
        break;
      }
    }
    item.scrollIntoView({ block: "center" });
  }

  // After the page has loaded: the browser's own jump to the fragment would take the focus back.
  if (document.readyState === "complete") {
    window.setTimeout(openLinkedAction, 0);
  } else {
    window.addEventListener("load", function () {
      window.setTimeout(openLinkedAction, 0);
    });
  }
  window.addEventListener("hashchange", openLinkedAction);
})();
