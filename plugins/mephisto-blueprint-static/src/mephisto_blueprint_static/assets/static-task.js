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
 */
(function () {
  "use strict";

  const BUTTON_TYPES = new Set(["submit", "button", "reset", "image"]);
  const REFUSAL_TITLES = {
    no_units: "No task available right now",
    not_qualified: "This task is not open to you",
    blocked: "This task is not open to you",
    too_many_concurrent: "Finish your other task first",
    max_units_reached: "You have done all the units you may do",
    bad_link: "This link does not work",
    run_over: "This task has ended",
  };

  const root = document.getElementById("task-root");
  const submitText = document.body.getAttribute("data-submit-text") || "Submit";

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

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

  function forgetToken() {
    // mephisto-task.js keeps the agent token per page URL; without it a reload asks for a new unit.
    const key = "mephisto-token:" + location.origin + location.pathname + location.search;
    try {
      sessionStorage.removeItem(key);
    } catch (err) {
      // Storage unavailable (sandboxed frame): the token lived in memory only and a reload forgets it.
    }
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

  function showDone(title, text, buttonText) {
    const done = element("div", "task-done");
    done.appendChild(element("h1", "", title));
    if (text) {
      done.appendChild(element("p", "", text));
    }
    if (buttonText) {
      const again = element("button", "task-button", buttonText);
      again.type = "button";
      again.addEventListener("click", () => {
        forgetToken();
        location.reload();
      });
      done.appendChild(again);
    }
    root.replaceChildren(done);
  }

  function showThanks() {
    showDone("Thank you", "Your answer was submitted.", "Do another unit");
  }

  function showOnboardingResult(result) {
    if (result && result.next === "onboarding_failed") {
      showDone(
        "Thank you for trying",
        "Your answers to the qualification test did not pass, so this task is not open to you.",
        ""
      );
    } else {
      showDone("You passed the qualification test", "You can now work on the task.", "Start the task");
    }
  }

  function showTask(mephisto, html, isOnboarding) {
    const form = element("form", "task-form");
    const content = element("div", "task-content");
    const actions = element("div", "task-actions");
    const button = element("button", "task-button", submitText);
    button.type = "submit";
    const status = element("p", "task-status");
    status.setAttribute("role", "status");
    actions.append(button, status);
    form.append(content, actions);
    root.replaceChildren(form);
    // Inserted once inside the form: a <form> tag in the task HTML is then ignored by the parser, as in the
    // original, so every control belongs to this form and the browser validates it on submit.
    insertHtml(content, html);

    let sending = false;
    // The browser runs its own checks (required, pattern, min/max, type=email) before this event fires.
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (sending) {
        return;
      }
      sending = true;
      button.disabled = true;
      clearErrors(form);
      status.className = "task-status";
      status.textContent = "Sending\u2026";
      try {
        const answer = collectAnswer(form);
        const result = await mephisto.handleSubmit(answer.outputs, answer.files);
        if (isOnboarding) {
          showOnboardingResult(result);
        } else {
          showThanks();
        }
      } catch (err) {
        const unplaced = showFieldErrors(form, err && err.fields);
        const message = (err && err.message) || "Your answer could not be sent. Please try again.";
        status.className = "task-status is-error";
        status.textContent = [message].concat(unplaced).join(" ");
        button.disabled = false;
      } finally {
        sending = false;
      }
    });
  }

  function start() {
    const mephisto = window.mephisto;
    if (!mephisto || !mephisto.ready) {
      root.replaceChildren(element("p", "task-status is-error", "The task could not load. Please reload the page."));
      return;
    }
    mephisto.ready.then(
      () => {
        const data = mephisto.initialTaskData || {};
        if (mephisto.isPreview) {
          showPreview(data.html);
        } else if (mephisto.alreadySubmitted) {
          showThanks();
        } else {
          showTask(mephisto, data.html || "", mephisto.isOnboarding);
        }
      },
      (err) => {
        const reason = err && err.reason;
        const title = REFUSAL_TITLES[reason] || "This task is not available";
        mephisto.showMessage(title, (err && err.message) || "Please try again later.");
      }
    );
  }

  start();
})();
