/*
 * form-task.js: the form task page. Renders the unit's form (initialTaskData.form), checks answers with the shared
 * rules as the worker types and on submit, and sends them through window.mephisto.handleSubmit.
 *
 * The answer is {field name: value} in the shapes validators.json lists (text, number or null, the chosen
 * option's value or null, lists for multiple selects and checkboxes, file names for file fields); the files go
 * with it. The server checks the same rules again and answers `invalid_submission` with per-field messages,
 * which are shown next to the fields.
 */
(function () {
  "use strict";

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
  const rules = FormRules.create(JSON.parse(document.getElementById("form-rules").textContent));

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
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

  function showDone(title, text, buttonText) {
    const done = el("div", "task-done");
    done.setAttribute("role", "status");
    done.appendChild(el("h1", "", title));
    if (text) {
      done.appendChild(el("p", "", text));
    }
    if (buttonText) {
      const again = el("button", "task-button", buttonText);
      again.type = "button";
      again.addEventListener("click", () => {
        forgetToken();
        location.reload();
      });
      done.appendChild(again);
    }
    root.replaceChildren(done);
    const heading = done.querySelector("h1");
    heading.tabIndex = -1;
    heading.focus();
  }

  function showThanks() {
    showDone("Thank you", "Your answer was submitted.", "Do another unit");
  }

  function showPreview(form) {
    root.replaceChildren();
    const note = el("p", "preview-note", "This is a preview. Accept the task to answer the form.");
    const container = el("div", "form-preview");
    root.append(note, container);
    FormRender.render(container, form, rules, { readOnly: true });
  }

  // ---- answering ----------------------------------------------------------------------------------

  function check(handle) {
    if (!handle.errors) {
      return []; // hidden fields: nothing to show, the server keeps their value honest
    }
    const messages = rules.fieldMessages(handle.config, handle.value());
    handle.setMessages(messages);
    return messages;
  }

  function collect(handles) {
    // No prototype: a field named "__proto__" must stay an ordinary key.
    const outputs = Object.create(null);
    const files = Object.create(null);
    handles.forEach((handle) => {
      outputs[handle.name] = handle.value();
      const chosen = handle.files();
      if (chosen) {
        files[handle.name] = chosen;
      }
    });
    return { outputs: outputs, files: files };
  }

  function focusField(handle) {
    if (handle.section) {
      handle.section.expand();
    }
    const target = handle.controls[0];
    if (target) {
      target.focus();
      if (target.scrollIntoView) {
        target.scrollIntoView({ block: "center" });
      }
    }
  }

  function showServerErrors(handles, fields) {
    const byName = new Map(handles.map((handle) => [handle.name, handle]));
    const unplaced = [];
    let first = null;
    Object.keys(fields || {}).forEach((name) => {
      const handle = byName.get(name);
      if (!handle || !handle.errors) {
        unplaced.push(name + ": " + fields[name]);
        return;
      }
      handle.setMessages([fields[name]]);
      if (first === null) {
        first = handle;
      }
    });
    if (first) {
      focusField(first);
    }
    return unplaced;
  }

  function showForm(mephisto, form) {
    const formNode = el("form", "task-form");
    formNode.noValidate = true; // the shared rules speak instead of the browser's own bubbles
    const rendered = FormRender.render(formNode, form, rules, { readOnly: false });
    const handles = rendered.fields;
    const button = form.submit_button || {};
    const actions = el("div", "task-actions");
    if (button.instruction) {
      const note = el("div", "submit-instruction");
      note.innerHTML = button.instruction; // trusted: written by the researcher
      actions.appendChild(note);
    }
    const submit = el("button", "task-button", button.text || "Submit");
    submit.type = "submit";
    if (button.tooltip) {
      submit.title = button.tooltip;
    }
    const status = el("p", "task-status");
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    actions.append(submit, status);
    formNode.appendChild(actions);
    root.replaceChildren(formNode);

    handles.forEach((handle) => handle.onChange(() => check(handle)));

    let sending = false;
    formNode.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (sending) {
        return;
      }
      const failing = handles.filter((handle) => check(handle).length > 0);
      if (failing.length) {
        failing.forEach((handle) => handle.section && handle.section.expand());
        status.className = "task-status is-error";
        status.textContent =
          failing.length === 1
            ? "One answer needs fixing before you can submit."
            : failing.length + " answers need fixing before you can submit.";
        focusField(failing[0]);
        return;
      }
      sending = true;
      submit.disabled = true;
      status.className = "task-status";
      status.textContent = "Sending\u2026";
      try {
        const answer = collect(handles);
        await mephisto.handleSubmit(answer.outputs, answer.files);
        showThanks();
      } catch (err) {
        const unplaced = showServerErrors(handles, err && err.fields);
        status.className = "task-status is-error";
        status.textContent = [(err && err.message) || "Your answer could not be sent. Please try again."]
          .concat(unplaced)
          .join(" ");
        submit.disabled = false;
      } finally {
        sending = false;
      }
    });
  }

  function start() {
    const mephisto = window.mephisto;
    if (!mephisto || !mephisto.ready) {
      root.replaceChildren(el("p", "task-status is-error", "The task could not load. Please reload the page."));
      return;
    }
    mephisto.ready.then(
      () => {
        const data = mephisto.initialTaskData || {};
        if (!data.form) {
          root.replaceChildren(el("p", "task-status is-error", "This unit has no form to show."));
        } else if (mephisto.isPreview) {
          showPreview(data.form);
        } else if (mephisto.alreadySubmitted) {
          showThanks();
        } else {
          showForm(mephisto, data.form);
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
