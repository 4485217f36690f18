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
    // A link to a part of a page opened signed out (an e-mail's "…#approvals-heading"): the browser keeps the
    // fragment through the redirect to the sign-in page, and a form sent to an address with it keeps it
    // through the redirect that answers the form, so signing in lands on that part, not the page's top.
    if (window.location.hash) {
      document.querySelectorAll("form[data-keeps-fragment]").forEach(function (form) {
        form.action = form.getAttribute("action").split("#")[0] + window.location.hash;
      });
    }

    // <select data-autosubmit>: send the form as soon as a choice is made with the pointer (or a phone's
    // picker). From the keyboard, the arrows only move through the choices (Chrome changes a closed
    // select's value at each arrow, and sending at the first one left a reader in a language they may
    // not read): the form's button then shows, and Enter sends. The button is there for people without
    // JavaScript too; until it is needed it is hidden from sight but shows when the Tab key reaches it.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      var form = select.form;
      if (!form) {
        return;
      }
      var buttons = form.querySelectorAll("[data-autosubmit-button]");
      buttons.forEach(function (button) {
        button.classList.add("visually-hidden-focusable");
      });
      var send = function () {
        if (typeof form.requestSubmit === "function") {
          form.requestSubmit();
        } else {
          form.submit();
        }
      };
      var fromKeyboard = false;
      select.addEventListener("keydown", function (event) {
        if (event.key === "Enter") {
          event.preventDefault();
          send();
          return;
        }
        if (event.key !== "Tab") {
          fromKeyboard = true;
        }
      });
      select.addEventListener("pointerdown", function () {
        fromKeyboard = false;
      });
      select.addEventListener("change", function () {
        if (fromKeyboard) {
          buttons.forEach(function (button) {
            button.classList.remove("visually-hidden-focusable");
          });
          return;
        }
        send();
      });
    });

    // Files past the upload limit are said before they are sent: the server can only refuse the whole request
    // (413), and what was typed beside them (a hand-in's note, its indicator values) was lost.
    var uploadLimit = parseInt(document.body.getAttribute("data-upload-limit") || "0", 10);
    document.addEventListener("submit", function (event) {
      var inputs = event.target.querySelectorAll ? event.target.querySelectorAll("input[type='file']") : [];
      if (!uploadLimit || !inputs.length) {
        return;
      }
      var total = 0;
      inputs.forEach(function (input) {
        Array.prototype.forEach.call(input.files || [], function (file) { total += file.size; });
      });
      if (total > uploadLimit) {
        event.preventDefault();
        var input = inputs[0];
        input.setCustomValidity(document.body.getAttribute("data-upload-too-large"));
        input.reportValidity();
        input.addEventListener("change", function () { input.setCustomValidity(""); }, { once: true });
      }
    }, true);

    // <input type="file" data-picks="ID">: choosing a file also picks the choice ID (the send-version form's
    // "Upload a file" beside "Send the reviewed draft text"); picking another choice of the same group drops
    // the file, so the form never sends both (the server refuses both together, for pages without JavaScript).
    document.querySelectorAll("input[type=file][data-picks]").forEach(function (input) {
      var choice = document.getElementById(input.getAttribute("data-picks"));
      if (!choice || !choice.form) {
        return;
      }
      input.addEventListener("change", function () {
        if (input.files && input.files.length) {
          choice.checked = true;
        }
      });
      choice.form.querySelectorAll("input[type=radio][name='" + choice.name + "']").forEach(function (other) {
        other.addEventListener("change", function () {
          if (other !== choice && other.checked) {
            input.value = "";
          }
        });
      });
    });

    // <form data-continues>: a check walked in parts (the audit trail's, a part per request so no web
    // worker is held for long) asks its next part as soon as this one is shown, until the whole is walked.
    // The page stays usable meanwhile; leaving it stops the check. Without JavaScript its button does it.
    document.querySelectorAll("form[data-continues]").forEach(function (form) {
      if (typeof form.requestSubmit === "function") {
        form.requestSubmit();
      } else {
        form.submit();
      }
    });

    // <form data-confirm="Question?"> or <button data-confirm="...">: ask first. A box that was ticked and is
    // sent unticked with <input type=checkbox data-confirm-unchecked="Question?">: asked then only (an
    // account's "active", whose unticking ends what reactivating does not bring back).
    document.addEventListener("submit", function (event) {
      var form = event.target;
      var submitter = event.submitter;
      var message = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
      form.querySelectorAll("input[type=checkbox][data-confirm-unchecked]").forEach(function (box) {
        if (!message && box.defaultChecked && !box.checked) {
          message = box.getAttribute("data-confirm-unchecked");
        }
      });
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

    // <select data-searchable>: a search box with removable chips instead of Ctrl-click (Tom Select,
    // vendored). Without JavaScript, or without Tom Select, the plain <select> stays and its help
    // says how to choose several. A polite live region says what was added or removed, since
    // screen readers do not announce the chips themselves.
    if (typeof window.TomSelect === "function") {
      document.querySelectorAll("select[data-searchable]").forEach(enhanceSelect);
    }

    // A table wider than the screen scrolls sideways in its box (.table-responsive). On a phone
    // nothing showed there was more: the box now fades at the side with more columns, says so
    // once above the table (text from <body data-scroll-hint>), and takes the keyboard's focus.
    var scrollHint = document.body.getAttribute("data-scroll-hint");
    document.querySelectorAll(".table-responsive").forEach(function (box) {
      markOverflow(box, scrollHint);
    });

    // The portfolio's timeline opens with today in sight: on a phone it opened at its start (the first
    // signature, years back), today's line and its label off the screen's side. Today goes about two thirds
    // of the way along the bars' visible part (the sticky names take the rest), what is to come after it.
    document.querySelectorAll(".timeline-scroll").forEach(function (box) {
      var line = box.querySelector(".timeline-today");
      var label = box.querySelector(".timeline-today-label");
      var names = box.querySelector(".timeline-label");
      if (!line) {
        return;
      }
      var rtl = window.getComputedStyle(box).direction === "rtl";
      var shown = box.getBoundingClientRect();
      var namesWidth = names ? names.getBoundingClientRect().width : 0;
      var start = rtl ? shown.left : shown.left + namesWidth;
      var end = rtl ? shown.right - namesWidth : shown.right;
      var today = line.getBoundingClientRect();
      var left = today.left;
      var right = today.right;
      if (label) {
        left = Math.min(left, label.getBoundingClientRect().left);
        right = Math.max(right, label.getBoundingClientRect().right);
      }
      if (left >= start && right <= end) {
        return;
      }
      var shift = (left + right) / 2 - (start + (end - start) * (rtl ? 1 / 3 : 2 / 3));
      shift = Math.max(shift, right - end + 4); // the label whole, on whichever side of the line it sits
      shift = Math.min(shift, left - start - 4);
      box.scrollLeft += shift;
    });

    // A row of tabs that scrolls sideways on a phone (.nav.overflow-auto) shows the current tab: in
    // Arabic the account's tabs opened on their start, the page's own tab cut off at the end. Once the
    // fonts are in, since they change the tabs' widths.
    var showCurrentTabs = function () {
      document.querySelectorAll(".nav.overflow-auto .active").forEach(function (tab) {
        var row = tab.closest(".nav");
        var rowBox = row.getBoundingClientRect();
        var tabBox = tab.getBoundingClientRect();
        if (tabBox.left < rowBox.left || tabBox.right > rowBox.right) {
          row.scrollLeft += (tabBox.left + tabBox.right - rowBox.left - rowBox.right) / 2;
        }
      });
    };
    if (document.fonts && document.fonts.ready) {
      document.fonts.ready.then(showCurrentTabs);
    } else {
      showCurrentTabs();
    }

    // <textarea dir="auto" data-mentions>: dir=auto goes by the first letter, and an Arabic message that starts
    // with an @mention (an e-mail address, so Latin) turned the box left to right. The box takes the direction
    // of the first letter outside the mentions, as the posted message shows it (its mentions are <bdi>, which
    // dir=auto passes over); with no such letter yet, the page's. A mention runs from its @ to the next space,
    // so one half typed counts as one too.
    var rightToLeft = /[\p{Script=Arabic}\p{Script=Hebrew}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}]/u;
    document.querySelectorAll("textarea[data-mentions]").forEach(function (box) {
      var update = function () {
        var letter = box.value.replace(/(^|[^\w.@])@\S*/g, " ").match(/\p{L}/u);
        if (!letter) {
          box.dir = document.documentElement.dir || "ltr";
        } else {
          box.dir = rightToLeft.test(letter[0]) ? "rtl" : "ltr";
        }
      };
      box.addEventListener("input", update);
      update();
    });

    // After a failed submission, put the cursor on the first field to correct.
    var invalid = document.querySelector("main .is-invalid:not(.ts-wrapper)");
    if (invalid && invalid.tomselect) {
      focusClosed(invalid.tomselect);
    } else if (invalid && typeof invalid.focus === "function") {
      invalid.focus();
      if (typeof invalid.select === "function" && invalid.value) {
        invalid.select(); // typing replaces what was refused rather than joining onto it
      }
    } else {
      // Refused with no field to mark (a wrong password, a refused hand-in): the reason, not the top of the
      // page, gets the focus, so a screen reader says it (an alert already there at load is not announced).
      var refusal = document.querySelector(".flash-messages .alert-danger");
      if (refusal) {
        refusal.setAttribute("tabindex", "-1");
        refusal.focus();
      }
    }
  });
})();

function markOverflow(box, hintText) {
  "use strict";
  var hint = null;
  var update = function () {
    var hidden = box.scrollWidth - box.clientWidth;
    if (hidden <= 1) {
      box.removeAttribute("data-overflow");
      box.removeAttribute("tabindex");
      if (hint) { hint.hidden = true; }
      return;
    }
    // scrollLeft runs from 0 towards the end in left-to-right pages, from 0 to negative in Arabic.
    var travelled = Math.abs(box.scrollLeft);
    var more = [];
    if (travelled > 1) { more.push("start"); }
    if (travelled < hidden - 1) { more.push("end"); }
    box.setAttribute("data-overflow", more.join(" "));
    box.setAttribute("tabindex", "0");
    if (hintText && !hint) {
      hint = document.createElement("p");
      hint.className = "scroll-hint";
      hint.setAttribute("aria-hidden", "true");
      hint.textContent = hintText;
      box.parentNode.insertBefore(hint, box);
    }
    if (hint) { hint.hidden = false; }
  };
  box.addEventListener("scroll", update, { passive: true });
  if (typeof window.ResizeObserver === "function") {
    new window.ResizeObserver(update).observe(box);
  } else {
    window.addEventListener("resize", update);
  }
  update();
}

// A searchable field (Tom Select) takes the cursor with its list closed: an open list covered the field's error
// (or the notice above it), and the click that closed it took the focus away. Typing opens it, with what matches.
function focusClosed(widget) {
  "use strict";
  var openOnFocus = widget.settings.openOnFocus;
  widget.settings.openOnFocus = false;
  widget.focus(); // Tom Select handles the focus in a timeout of its own: restore after it
  window.setTimeout(function () {
    widget.settings.openOnFocus = openOnFocus;
  }, 0);
}

function enhanceSelect(select) {
  "use strict";
  var texts = select.dataset;
  // Tom Select moves the chosen options to the end of the list. A single choice the page drew unmarked (the
  // browser shows the first option) is marked first, so what the page drew can still be read from it: a form's
  // kept changes are told from it (below, "A refused form keeps what was typed").
  if (!select.multiple && select.selectedIndex >= 0 && !select.querySelector("option[selected]")) {
    select.options[select.selectedIndex].defaultSelected = true;
  }
  var live = document.createElement("div");
  live.className = "visually-hidden";
  live.setAttribute("aria-live", "polite");
  var say = function (template, value) {
    var option = select.querySelector("option[value='" + CSS.escape(String(value)) + "']");
    live.textContent = template.replace("{name}", option ? option.textContent : value);
  };
  var settings = {
    maxOptions: null,
    // An option's data-search holds its names in the other languages: "Mistral" finds "ميسترال".
    searchField: ["text", "search"],
    hidePlaceholder: true,
    clearAfterSelect: true,
    // The list is in the page: search on every key at once (a fast "type, Enter" must not pick a stale match).
    refreshThrottle: 0,
    allowEmptyOption: !select.multiple,
    plugins: select.multiple ? { remove_button: { title: texts.removeLabel || "Remove", label: "\u00d7" } } : {},
    render: {
      no_results: function () {
        var empty = document.createElement("div");
        empty.className = "no-results";
        empty.textContent = texts.noResults || "";
        return empty;
      }
    },
    onItemAdd: function (value) {
      if (select.multiple && texts.added) { say(texts.added, value); }
    },
    onItemRemove: function (value) {
      if (texts.removed) { say(texts.removed, value); }
    }
  };
  if (texts.remote) {
    remoteChoices(settings, texts.remote);
  }
  var widget = new window.TomSelect(select, settings);
  // The search box is what the keyboard and screen readers reach: it carries the field's help and errors.
  ["aria-describedby", "aria-invalid", "aria-required"].forEach(function (name) {
    if (select.hasAttribute(name)) {
      widget.control_input.setAttribute(name, select.getAttribute(name));
    }
  });
  if (select.required) {
    widget.control_input.setAttribute("aria-required", "true");
  }
  // What is chosen, said with the field: the chips beside the search box are plain text, so a screen reader
  // editing an agreement heard none of its partners, and a Backspace removed one it never heard of.
  if (texts.chosen) {
    var chosen = document.createElement("span");
    chosen.className = "visually-hidden";
    chosen.id = (select.id || select.name) + "-chosen";
    var sayChosen = function () {
      var names = Array.prototype.filter.call(select.options, function (option) {
        return option.selected && option.value !== "";
      }).map(function (option) { return option.textContent.trim(); });
      chosen.textContent = names.length ? texts.chosen.replace("{names}", names.join(", ")) : (texts.noneChosen || "");
    };
    sayChosen();
    widget.on("change", sayChosen);
    widget.wrapper.appendChild(chosen);
    var described = widget.control_input.getAttribute("aria-describedby");
    widget.control_input.setAttribute("aria-describedby", chosen.id + (described ? " " + described : ""));
  }
  // On a phone the open list covers the form below it, and a tapped choice left it open over the fields to fill
  // next: a choice made by touch closes it. A mouse keeps it open to choose several, as Tom Select does.
  var touched = false;
  widget.dropdown.addEventListener("pointerdown", function (event) {
    touched = event.pointerType === "touch";
  });
  widget.on("item_add", function () {
    if (touched) {
      touched = false;
      widget.close();
    }
  });
  // The original <select> stays in the page for the form but out of reach (tabindex -1): hidden from
  // screen readers too, or they would meet the same field twice, once without its label.
  select.setAttribute("aria-hidden", "true");
  widget.wrapper.appendChild(live);
  // Enter chooses the highlighted option; with none (no match yet) it must not send the whole form.
  widget.control_input.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault();
    }
  });
  var help = document.getElementById(select.id + "-help");
  if (help && texts.searchHelp) {
    help.textContent = texts.searchHelp;
  }
}

// <select data-remote="/choices/agreements">: too many choices to list in the page, so only the chosen ones
// are there; the others come from the server as one types (a short pause first), at most twenty at a time.
// The server already matched every language's names: its answer to the current words is shown as is.
function remoteChoices(settings, url) {
  "use strict";
  var answered = {};
  settings.loadThrottle = 250;
  settings.load = function (query, callback) {
    var address = url + (url.indexOf("?") < 0 ? "?" : "&") + "q=" + encodeURIComponent(query);
    window.fetch(address, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.json() : { results: [] };
      })
      .then(function (body) {
        var values = {};
        body.results.forEach(function (choice) { values[choice.value] = true; });
        answered[query] = values;
        callback(body.results);
      })
      .catch(function () {
        callback();
      });
  };
  settings.score = function (query) {
    return function (option) {
      return answered[query] && answered[query][option.value] ? 1 : 0;
    };
  };
}

// The portfolio board links to one action of an agreement (/agreements/<id>#action-<name>).
// A move that needs a reason sits in a closed <details>: open it and put the cursor in it.
// A blocked move's "Complete the details" links to the missing field of the agreement's form
// (/agreements/<id>/edit#title_fr): the browser only scrolls to it, under the top bar, the cursor
// left at the top of the page; the field takes the cursor, in the middle of the screen.
(function () {
  "use strict";

  function focusLinkedField(id) {
    var field = document.getElementById(id);
    if (!field || !field.matches("input, select, textarea")) {
      return;
    }
    var target = field.tomselect ? field.tomselect.control_input : field;
    target.focus({ preventScroll: true });
    (field.tomselect ? field.tomselect.wrapper : field).scrollIntoView({ block: "center" });
  }

  function openLinkedAction() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    if (id.indexOf("action-") !== 0) {
      focusLinkedField(id);
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

// A refused form keeps what was typed. A page form that is refused (a mention of someone outside the
// thread, a rule of the agreement) comes back to its page with the reason at the top: the text boxes
// would be empty, and on a phone the reason out of sight. What the person changed in a sent form (each field
// no longer as the page drew it) is kept for this tab as it is sent; when the next page shows a refusal and has
// that form, those changes are put back and the reason is shown at the form too. Any other next page forgets
// them. Switching the language keeps the page's changes the same way, for the same page coming back in the
// language chosen. Only the changes: a field left as drawn shows what the next page draws, which may be what
// someone else saved meanwhile (a stale save comes back merged: core.forms.show_changes_meanwhile); putting
// the whole form back had written this tab's old copy over it, and saving again undid the other's change.
(function () {
  "use strict";

  var KEY = "sharaka.typed";
  // What a person fills in: text boxes and the one-line fields beside them (a hand-in's indicator values had
  // come back empty), and choices: drop-downs, ticked boxes, radio buttons (a new agreement's type had come
  // back as the MoU, another workflow, with the note saying what was typed was back). Never a password, a
  // file or the form's hidden tokens.
  var FIELDS = "textarea[name], input[name]:not([type]), input[name][type=text], input[name][type=number], " +
    "input[name][type=email], input[name][type=url], input[name][type=date], input[name][type=search], " +
    "select[name], input[name][type=checkbox], input[name][type=radio]";

  function storage() {
    try {
      return window.sessionStorage;
    } catch (error) {
      return null; // storage refused by the browser: forms work as before
    }
  }

  function isPosted(form) {
    return (form.getAttribute("method") || "").toLowerCase() === "post";
  }

  function owns(object, key) {
    return Object.prototype.hasOwnProperty.call(object, key);
  }

  // The form's fields a person can change, by name: the controls of each, in the page's order.
  function fieldsOf(form) {
    var fields = Object.create(null);
    form.querySelectorAll(FIELDS).forEach(function (control) {
      if (!control.readOnly && !control.disabled) {
        (fields[control.name] = fields[control.name] || []).push(control);
      }
    });
    return fields;
  }

  // What a field's controls hold, in the order the form sends them; `drawn`: what the page drew there.
  function valuesOf(controls, drawn) {
    var values = [];
    controls.forEach(function (control) {
      if (control.tagName === "SELECT") {
        chosenIn(control, drawn).forEach(function (option) { values.push(option.value); });
      } else if (control.type === "checkbox" || control.type === "radio") {
        if (drawn ? control.defaultChecked : control.checked) {
          values.push(control.value);
        }
      } else {
        values.push(drawn ? control.defaultValue : control.value);
      }
    });
    return values;
  }

  // The options chosen in a drop-down; `drawn`: as the page drew it (a single choice drawn unmarked shows the
  // browser's: the first that can be chosen).
  function chosenIn(select, drawn) {
    var options = Array.prototype.filter.call(select.options, function (option) {
      return drawn ? option.defaultSelected : option.selected;
    });
    if (drawn && !select.multiple && select.size <= 1) {
      var first = Array.prototype.find.call(select.options, function (option) { return !option.disabled; });
      return options.length ? options.slice(-1) : (first ? [first] : []);
    }
    return options;
  }

  function sameValues(some, others) {
    return some.length === others.length && some.every(function (value, index) {
      return value === others[index];
    });
  }

  // What the person changed in the form: each field's values where they are no longer what the page drew,
  // and the names of the options chosen (one found by typing comes from the server: the next page may not
  // list it); null when nothing was changed.
  function changesIn(form) {
    var fields = fieldsOf(form);
    var changes = null;
    Object.keys(fields).forEach(function (name) {
      var values = valuesOf(fields[name], false);
      if (sameValues(values, valuesOf(fields[name], true))) {
        return;
      }
      changes = changes || { values: {}, labels: {} };
      changes.values[name] = values;
      fields[name].forEach(function (control) {
        if (control.tagName === "SELECT") {
          changes.labels[name] = changes.labels[name] || {};
          chosenIn(control, false).forEach(function (option) {
            changes.labels[name][option.value] = option.textContent.trim();
          });
        }
      });
    });
    return changes;
  }

  function keepTyped(event) {
    var form = event.target;
    var kept = storage();
    if (!kept || event.defaultPrevented || !isPosted(form)) {
      return;
    }
    var action = form.getAttribute("action") || "";
    var waiting = waitingEntry(kept);
    if (waiting && waiting.action !== action) {
      return; // signing in again: what the form whose sign-in ended held waits for that form
    }
    var changes = changesIn(form);
    var because = null;
    // <form data-keeps-page-typed> (the language switch) sends nothing typed itself but brings the same page
    // back in another language, every form as drawn: the changes of the page's first form with any are kept,
    // and put back with a word saying so.
    if (form.hasAttribute("data-keeps-page-typed")) {
      because = "language";
      changes = null;
      Array.prototype.some.call(document.forms, function (other) {
        changes = other !== form && isPosted(other) ? changesIn(other) : null;
        action = other.getAttribute("action") || "";
        return changes !== null;
      });
    }
    if (changes) {
      kept.setItem(KEY, JSON.stringify({
        action: action, changed: changes.values, labels: changes.labels, reader: reader(), because: because
      }));
    } else {
      kept.removeItem(KEY);
    }
  }

  // A form sent after its sign-in ended (the server's page marks it [data-sign-in-ended]): what it held
  // waits, across the sign-in pages, for the form's page that signing in again leads back to, for half an hour.
  var WAIT_MS = 30 * 60 * 1000;

  // Who reads the page (their account's number; none before signing in): what one person typed is never
  // put back in a form another signs in to in the same tab.
  function reader() {
    return document.body.getAttribute("data-reader") || "";
  }

  function waitingEntry(kept) {
    try {
      var entry = JSON.parse(kept.getItem(KEY) || "null");
      return entry && entry.waitingSince && Date.now() - entry.waitingSince < WAIT_MS ? entry : null;
    } catch (error) {
      return null;
    }
  }

  // `values` back in a field's controls (`labels`: the names of the options chosen); false when they held them
  // already. What listens to the field hears of it (a part shown for one choice only, Tom Select's chips).
  function putBack(controls, values, labels) {
    if (sameValues(valuesOf(controls, false), values)) {
      return false;
    }
    var typed = 0;
    controls.forEach(function (control) {
      if (control.tagName === "SELECT") {
        choose(control, values, labels || {});
        return;
      }
      if (control.type === "checkbox" || control.type === "radio") {
        control.checked = values.indexOf(control.value) >= 0;
      } else {
        control.value = typed < values.length ? values[typed] : "";
        typed += 1;
      }
      control.dispatchEvent(new Event("change", { bubbles: true }));
    });
    return true;
  }

  function choose(select, values, labels) {
    var widget = select.tomselect;
    var unlisted = values.filter(function (value) {
      return !Array.prototype.some.call(select.options, function (option) { return option.value === value; }) &&
        !(widget && owns(widget.options, value));
    });
    unlisted.forEach(function (value) {
      var text = owns(labels, value) ? String(labels[value]) : value;
      if (widget) {
        widget.addOption({ value: value, text: text });
      } else {
        select.add(new Option(text, value));
      }
    });
    if (widget) {
      widget.setValue(select.multiple ? values : values[0] || "");
      renameChoices(select, unlisted);
      return;
    }
    Array.prototype.forEach.call(select.options, function (option) {
      option.selected = values.indexOf(option.value) >= 0;
    });
    select.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // A choice found by typing (too many to list: app/choices, <select data-remote>) is not in the next page: it
  // comes back under the name the person saw, then under the server's, in the page's language (switched, it
  // may be another).
  function renameChoices(select, values) {
    var url = select.getAttribute("data-remote");
    var widget = select.tomselect;
    if (!url || !values.length) {
      return;
    }
    var address = url + (url.indexOf("?") < 0 ? "?" : "&") + "ids=" + values.map(encodeURIComponent).join(",");
    window.fetch(address, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.json() : { results: [] };
      })
      .then(function (body) {
        body.results.forEach(function (choice) {
          if (owns(widget.options, choice.value)) {
            widget.updateOption(choice.value, Object.assign({}, widget.options[choice.value], { text: choice.text }));
          }
          Array.prototype.forEach.call(select.options, function (option) {
            if (option.value === choice.value) {
              option.textContent = choice.text;
            }
          });
        });
      })
      .catch(function () {}); // the names the person saw stay
  }

  function giveBack() {
    var kept = storage();
    var saved = kept && kept.getItem(KEY);
    if (!saved) {
      return;
    }
    var sent;
    try {
      sent = JSON.parse(saved);
    } catch (error) {
      kept.removeItem(KEY);
      return;
    }
    if (document.querySelector("[data-sign-in-ended]")) {
      sent.waitingSince = sent.waitingSince || Date.now();
      kept.setItem(KEY, JSON.stringify(sent));
      return;
    }
    if (reader() && sent.reader && sent.reader !== reader()) {
      kept.removeItem(KEY);
      return;
    }
    var waited = waitingEntry(kept) !== null;
    var form = Array.prototype.find.call(document.forms, function (candidate) {
      return (candidate.getAttribute("action") || "") === sent.action;
    });
    if (!form && waited) {
      return; // a sign-in page on the way back to the form
    }
    kept.removeItem(KEY);
    var refusal = document.querySelector(".flash-messages .alert-danger");
    var notice = null;
    if (refusal) {
      // The reason where the person is looking too; the one at the top stays (the form may be tucked in a
      // panel), and the copy is not announced a second time.
      notice = refusal.cloneNode(true);
      notice.removeAttribute("role");
    } else if (waited || sent.because === "language") {
      notice = document.createElement("div");
      notice.className = "alert alert-info";
      notice.setAttribute("data-typed-back-notice", "");
      notice.textContent = document.body.getAttribute(waited ? "data-typed-back" : "data-typed-back-language") || "";
    }
    if (!form || !notice || !sent.changed) {
      return;
    }
    var fields = fieldsOf(form);
    var first = null;
    Object.keys(fields).forEach(function (name) {
      var controls = fields[name];
      // A field the server says someone else changed meanwhile shows what the server drew (their value, or
      // this person's with theirs beside it): the copy sent from this tab is older.
      var theirs = controls.some(function (control) { return control.closest("[data-changed-meanwhile]"); });
      // Also over what the page drew there: the stored value the person had changed (an activation's
      // date came back as it was, and the refusal then named a date the form no longer showed).
      if (!theirs && owns(sent.changed, name) && putBack(controls, sent.changed[name], (sent.labels || {})[name])) {
        first = first || controls[0];
        controls.forEach(openAround);
      }
    });
    if (!first) {
      return;
    }
    form.insertBefore(notice, form.firstChild);
    openAround(form);
    if (first.tomselect) {
      focusClosed(first.tomselect);
    } else {
      first.focus({ preventScroll: true });
    }
    form.scrollIntoView({ block: "center" });
  }

  // The folded parts (<details>) around an element, opened: a value put back where it cannot be seen is lost.
  function openAround(element) {
    for (var folded = element.closest("details"); folded; folded = folded.parentElement.closest("details")) {
      folded.open = true;
    }
  }

  // After the confirmation question's listener (registered when the page is ready): a form whose
  // sending was called off is not kept.
  function start() {
    document.addEventListener("submit", keepTyped);
    giveBack();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

// An activation's warning of the reports that would fall before today (an agreement signed before Sharaka, in
// force from months back): drawn for the dates the form offers, asked of the server again for the dates typed
// (a form given back after a refusal, above, included). With no report before today the choice is put away.
(function () {
  "use strict";

  function watch(box) {
    var form = box.closest("form");
    var message = box.querySelector("[data-past-due-message]");
    var dates = Array.prototype.filter.call(form.elements, function (control) {
      return control.name === "effective_on" || control.name === "expires_on";
    });
    var asked = 0;
    function ask() {
      var mine = ++asked;
      var query = dates.map(function (control) {
        return control.name + "=" + encodeURIComponent(control.value);
      });
      var address = box.getAttribute("data-past-due") + "?" + query.join("&");
      window.fetch(address, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (body) {
          if (!body || mine !== asked) {
            return; // an answer overtaken by a later question, or none: the warning stays as it was
          }
          message.textContent = body.message || "";
          box.hidden = box.disabled = !body.message;
          box.setAttribute("data-past-due-asked", String(mine));
        })
        .catch(function () {});
    }
    dates.forEach(function (control) {
      control.addEventListener("change", ask);
    });
    if (dates.some(function (control) { return control.value !== control.defaultValue; })) {
      ask();
    }
  }

  document.querySelectorAll("fieldset[data-past-due]").forEach(watch);
})();
