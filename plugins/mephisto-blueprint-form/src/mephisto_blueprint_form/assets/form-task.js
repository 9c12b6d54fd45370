/*
 * form-task.js: the form task page. Renders the unit's form (initialTaskData.form), checks answers with the shared
 * rules as the worker types and on submit, and sends them through window.mephisto.handleSubmit.
 *
 * The answer is {field name: value} in the shapes validators.json lists (text, number or null, the chosen
 * option's value or null, lists for multiple selects and checkboxes, file names for file fields); the files go
 * with it. The server checks the same rules again and answers `invalid_submission` with per-field messages,
 * which are shown next to the fields. What every task page needs (waiting for the unit, refusal and thank-you
 * pages, the submit round trip) comes from mephisto.taskPage in /mephisto-task.js.
 */
(function () {
  "use strict";

  const root = document.getElementById("task-root");
  const rules = FormRules.create(JSON.parse(document.getElementById("form-rules").textContent));
  const page = window.mephisto && window.mephisto.taskPage;
  const el = page ? page.element : null;

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

  function showForm(form) {
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
    const status = page.statusLine();
    actions.append(submit, status);
    formNode.appendChild(actions);
    root.replaceChildren(formNode);

    handles.forEach((handle) => handle.onChange(() => check(handle)));

    page.handleFormSubmit(formNode, {
      button: submit,
      status: status,
      check: () => {
        const failing = handles.filter((handle) => check(handle).length > 0);
        if (!failing.length) {
          return null;
        }
        failing.forEach((handle) => handle.section && handle.section.expand());
        focusField(failing[0]);
        return failing.length === 1
          ? "One answer needs fixing before you can submit."
          : failing.length + " answers need fixing before you can submit.";
      },
      collect: () => collect(handles),
      showErrors: (fields) => showServerErrors(handles, fields),
      done: () => page.showThanks(root),
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
    const noForm = () => root.replaceChildren(el("p", "task-status is-error", "This unit has no form to show."));
    page.start(root, {
      preview: (data) => (data.form ? showPreview(data.form) : noForm()),
      task: (data) => (data.form ? showForm(data.form) : noForm()),
    });
  }

  start();
})();
