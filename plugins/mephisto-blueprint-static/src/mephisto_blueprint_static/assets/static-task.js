/*
 * static-task.js: shows a static HTML task inside a form and sends its named fields through window.mephisto.
 *
 * Dependency-free ES2017, loaded after /mephisto-task.js by the page the static blueprint builds. How each
 * field becomes part of the answer (the server checks the same rules, in mephisto_blueprint_static.fields):
 *
 *   text-like input, textarea, number   -> the string as typed
 *   one checkbox with a name            -> true / false
 *   several checkboxes sharing a name   -> list of the ticked boxes' values
 *   radio buttons                       -> the chosen value, or null
 *   select                              -> the selected value; select[multiple] -> list of values
 *   file input                          -> list of file names; the files themselves are uploaded
 *   other controls sharing one name     -> list of their values
 *
 * What every task page needs (waiting for the unit, refusal and thank-you pages, the submit round trip) comes
 * from mephisto.taskPage in /mephisto-task.js.
 */
(function () {
  "use strict";

  const BUTTON_TYPES = new Set(["submit", "button", "reset", "image"]);
  const root = document.getElementById("task-root");
  const submitText = document.body.getAttribute("data-submit-text") || "Submit";
  const page = window.mephisto && window.mephisto.taskPage;
  const element = page ? page.element : null;

  /** Put task HTML into `container`; scripts inside it run, in order, as they would in a page. */
  function insertHtml(container, html) {
    container.innerHTML = html;
    // Scripts inserted through innerHTML never run; re-creating them makes them run.
    container.querySelectorAll("script").forEach((old) => {
      const script = document.createElement("script");
      Array.from(old.attributes).forEach((attr) => script.setAttribute(attr.name, attr.value));
      script.async = false;
      script.text = old.text;
      old.replaceWith(script);
    });
  }

  // ---- answers -------------------------------------------------------------------------------------

  function namedControls(form) {
    const groups = new Map();
    form.querySelectorAll("input[name], select[name], textarea[name]").forEach((control) => {
      if (!control.name || (control.tagName === "INPUT" && BUTTON_TYPES.has(control.type))) {
        return;
      }
      if (!groups.has(control.name)) {
        groups.set(control.name, []);
      }
      groups.get(control.name).push(control);
    });
    return groups;
  }

  function selectedValues(select) {
    return Array.from(select.options)
      .filter((option) => option.selected)
      .map((option) => option.value);
  }

  function fileNames(input) {
    return Array.from(input.files || []).map((file) => file.name);
  }

  function fieldValue(controls) {
    const first = controls[0];
    if (controls.every((c) => c.type === "radio")) {
      const checked = controls.find((c) => c.checked);
      return checked ? checked.value : null;
    }
    if (controls.every((c) => c.type === "checkbox")) {
      return controls.length === 1 ? first.checked : controls.filter((c) => c.checked).map((c) => c.value);
    }
    if (controls.length === 1) {
      if (first.type === "select-multiple") {
        return selectedValues(first);
      }
      if (first.type === "file") {
        return fileNames(first);
      }
      return first.value;
    }
    const values = [];
    controls.forEach((c) => {
      if (c.type === "radio" || c.type === "checkbox") {
        if (c.checked) {
          values.push(c.value);
        }
      } else if (c.type === "select-multiple") {
        values.push(...selectedValues(c));
      } else if (c.type === "file") {
        values.push(...fileNames(c));
      } else {
        values.push(c.value);
      }
    });
    return values;
  }

  /** {outputs, files}: every named field's value, and field name -> FileList (or File[]) to upload. */
  function collectAnswer(form) {
    const outputs = {};
    const files = {};
    namedControls(form).forEach((controls, name) => {
      outputs[name] = fieldValue(controls);
      const chosen = controls.filter((c) => c.type === "file" && c.files && c.files.length > 0);
      if (chosen.length === 1) {
        files[name] = chosen[0].files;
      } else if (chosen.length > 1) {
        files[name] = chosen.reduce((all, c) => all.concat(Array.from(c.files)), []);
      }
    });
    return { outputs: outputs, files: files };
  }

  // ---- error display -------------------------------------------------------------------------------

  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach((node) => node.remove());
    form.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
  }

  function showFieldErrors(form, fields) {
    const unplaced = [];
    const groups = namedControls(form);
    Object.keys(fields || {}).forEach((name) => {
      const controls = groups.get(name);
      if (!controls) {
        unplaced.push(name + ": " + fields[name]);
        return;
      }
      controls.forEach((c) => c.setAttribute("aria-invalid", "true"));
      const last = controls[controls.length - 1];
      const note = element("p", "field-error", fields[name]);
      // After the label that wraps the control, if any, so the message sits below what the worker sees.
      const anchor = last.closest("label") || last;
      anchor.insertAdjacentElement("afterend", note);
    });
    return unplaced;
  }

  // ---- pages ---------------------------------------------------------------------------------------

  function showPreview(html) {
    const preview = element("div", "task-preview");
    root.replaceChildren(preview);
    insertHtml(preview, html || "<p>Accept the task to start.</p>");
  }

  function showOnboardingResult(result) {
    if (result && result.next === "onboarding_failed") {
      page.showDone(
        root,
        "Thank you for trying",
        "Your answers to the qualification test did not pass, so this task is not open to you.",
        ""
      );
    } else {
      page.showDone(root, "You passed the qualification test", "You can now work on the task.", "Start the task");
    }
  }

  function showTask(html, isOnboarding) {
    const form = element("form", "task-form");
    const content = element("div", "task-content");
    const actions = element("div", "task-actions");
    const button = element("button", "task-button", submitText);
    button.type = "submit";
    const status = page.statusLine();
    actions.append(button, status);
    form.append(content, actions);
    root.replaceChildren(form);
    // Inserted once inside the form: a <form> tag in the task HTML is then ignored by the parser, as in the
    // original, so every control belongs to this form and the browser validates it on submit.
    insertHtml(content, html);

    // The browser runs its own checks (required, pattern, min/max, type=email) before the submit event fires.
    page.handleFormSubmit(form, {
      button: button,
      status: status,
      clearErrors: () => clearErrors(form),
      collect: () => collectAnswer(form),
      showErrors: (fields) => showFieldErrors(form, fields),
      done: (result) => (isOnboarding ? showOnboardingResult(result) : page.showThanks(root)),
    });
  }

  function start() {
    if (!page) {
      const failed = document.createElement("p");
      failed.className = "task-status is-error";
      failed.textContent = "The task could not load. Please reload the page.";
      root.replaceChildren(failed);
      return;
    }
    page.start(root, {
      preview: (data) => showPreview(data.html),
      task: (data) => showTask(data.html || "", window.mephisto.isOnboarding),
    });
  }

  start();
})();
