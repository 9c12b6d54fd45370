/*
 * form-render.js: builds the page of a form config (form > sections > fieldsets > rows > fields) and reads its answers.
 *
 * Dependency-free ES2017; exposes window.FormRender.render(container, form, rules, {readOnly}) which returns
 * {fields: [handle, ...]}. A handle knows its config, its kind, how to read its value (the shape the server
 * expects: see validators.json "kinds") and how to show messages next to the field.
 *
 * Only instructions are inserted as HTML (the researcher wrote them); every other text is set as text.
 */
(function (global) {
  "use strict";

  let nextUid = 0;

  function uid(prefix) {
    nextUid += 1;
    return prefix + "-" + nextUid;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  function addClasses(node, classes) {
    if (typeof classes === "string") {
      classes
        .split(/\s+/)
        .filter(Boolean)
        .forEach((name) => node.classList.add(name));
    }
  }

  function setId(node, config) {
    if (typeof config.id === "string" && config.id) {
      node.id = config.id;
    }
  }

  function instruction(markup, className) {
    const node = el("div", className);
    node.innerHTML = markup; // trusted: written by the researcher, never by a worker
    return node;
  }

  function describedBy(control, ids) {
    const list = ids.filter(Boolean);
    if (list.length) {
      control.setAttribute("aria-describedby", list.join(" "));
    }
  }

  function initialChoices(config) {
    const value = config.value;
    if (Array.isArray(value)) {
      return value;
    }
    if (typeof value === "string" && value !== "") {
      return [value];
    }
    if (value && typeof value === "object") {
      return Object.keys(value).filter((key) => value[key] === true);
    }
    return (config.options || []).filter((option) => option.checked === true).map((option) => option.value);
  }

  // ---- one field ------------------------------------------------------------------------------------

  function fieldHandle(config, rules, readOnly) {
    const kind = rules.kindOf(config);
    const required = !!(config.validators && config.validators.required === true);
    const handle = {
      config: config,
      kind: kind,
      name: config.name,
      root: null,
      controls: [],
      errors: null,
      section: null,
      value: null,
      files: () => null,
      onChange: () => {},
    };
    if (config.type === "hidden") {
      const input = el("input");
      input.type = "hidden";
      input.name = config.name;
      input.value = config.value === undefined ? "" : config.value;
      handle.root = input;
      handle.value = () => input.value;
      return handle;
    }

    const id = typeof config.id === "string" && config.id ? config.id : uid("field");
    const helpId = config.help ? id + "-help" : "";
    const errorsId = id + "-errors";
    const isGroup = config.type === "checkbox" || config.type === "radio";
    const root = el(isGroup ? "fieldset" : "div", "form-field");
    root.setAttribute("data-field", config.name);
    addClasses(root, config.classes);
    const caption = el(isGroup ? "legend" : "label", "field-label", config.label);
    if (!isGroup) {
      caption.htmlFor = id;
    } else {
      root.id = id;
    }
    if (config.tooltip) {
      caption.title = config.tooltip;
    }
    if (required) {
      const mark = el("span", "required-mark", "*");
      mark.setAttribute("aria-hidden", "true");
      caption.appendChild(mark);
    }
    root.appendChild(caption);

    if (isGroup) {
      const chosen = initialChoices(config);
      const type = config.type;
      (config.options || []).forEach((option, index) => {
        const row = el("label", "choice-option");
        const input = el("input");
        input.type = type;
        input.name = config.name;
        input.value = option.value;
        input.id = id + "-" + index;
        input.checked = chosen.indexOf(option.value) >= 0;
        input.disabled = readOnly;
        if (config.tooltip) {
          input.title = config.tooltip;
        }
        describedBy(input, [helpId, errorsId]);
        row.append(input, el("span", "", option.label));
        root.appendChild(row);
        handle.controls.push(input);
      });
      handle.value = () => {
        const checked = handle.controls.filter((c) => c.checked).map((c) => c.value);
        if (type === "checkbox") {
          return checked;
        }
        return checked.length ? checked[0] : null;
      };
    } else {
      const control = buildControl(config, kind, id, readOnly);
      if (config.tooltip) {
        control.title = config.tooltip;
      }
      if (required) {
        control.setAttribute("aria-required", "true");
      }
      describedBy(control, [helpId, errorsId]);
      root.appendChild(control);
      handle.controls.push(control);
      handle.value = () => controlValue(control, kind);
      if (config.type === "file") {
        handle.files = () => (control.files && control.files.length ? control.files : null);
        if (config.show_preview === true) {
          root.appendChild(previewFor(control));
        }
      }
    }
    if (config.help) {
      const help = el("p", "field-help", config.help);
      help.id = helpId;
      root.appendChild(help);
    }
    const errors = el("ul", "field-errors");
    errors.id = errorsId;
    errors.setAttribute("aria-live", "polite");
    root.appendChild(errors);
    handle.root = root;
    handle.errors = errors;
    handle.setMessages = (messages) => setMessages(handle, messages);
    handle.onChange = (callback) => {
      const events = kind === "text" || kind === "number" ? ["input", "change"] : ["change"];
      handle.controls.forEach((control) => events.forEach((name) => control.addEventListener(name, callback)));
    };
    return handle;
  }

  function buildControl(config, kind, id, readOnly) {
    let control;
    if (config.type === "textarea") {
      control = el("textarea");
      control.rows = 5;
      control.value = config.value || "";
    } else if (config.type === "select") {
      control = el("select");
      control.multiple = kind === "choices";
      const chosen = initialChoices(config);
      (config.options || []).forEach((option) => {
        const node = el("option", "", option.label);
        node.value = option.value;
        node.selected = chosen.indexOf(option.value) >= 0;
        control.appendChild(node);
      });
      if (control.multiple) {
        control.size = Math.min(Math.max((config.options || []).length, 2), 8);
      } else if (chosen.length === 0 && control.options.length) {
        control.selectedIndex = 0;
      }
    } else {
      control = el("input");
      control.type = config.type === "input" ? "text" : config.type;
      if (config.type === "number") {
        control.step = "any";
        control.inputMode = "decimal";
        control.value = config.value === undefined || config.value === null ? "" : String(config.value);
      } else if (config.type === "file") {
        const extensions = config.validators && config.validators.fileExtension;
        if (Array.isArray(extensions)) {
          control.accept = extensions.map((ext) => "." + ext.replace(/^\.+/, "")).join(",");
        }
      } else {
        control.value = config.value || "";
      }
      if (config.type === "email") {
        control.autocomplete = "email";
      }
    }
    control.id = id;
    control.name = config.name;
    if (config.placeholder && config.type !== "select" && config.type !== "file") {
      control.placeholder = config.placeholder;
    }
    control.disabled = readOnly;
    return control;
  }

  function controlValue(control, kind) {
    if (kind === "choices") {
      return Array.from(control.options)
        .filter((option) => option.selected)
        .map((option) => option.value);
    }
    if (kind === "files") {
      return Array.from(control.files || []).map((file) => file.name);
    }
    if (kind === "number") {
      if (control.validity && control.validity.badInput) {
        return NaN; // typed, but not a number: the rules answer "Enter a number."
      }
      return control.value === "" ? null : Number(control.value);
    }
    return control.value;
  }

  function previewFor(control) {
    const image = el("img", "file-preview");
    image.alt = "";
    image.hidden = true;
    control.addEventListener("change", () => {
      const file = control.files && control.files[0];
      if (image.src) {
        URL.revokeObjectURL(image.src);
      }
      image.hidden = !(file && /^image\//.test(file.type));
      if (!image.hidden) {
        image.src = URL.createObjectURL(file);
      }
    });
    return image;
  }

  function setMessages(handle, messages) {
    handle.errors.replaceChildren(...messages.map((message) => el("li", "", message)));
    handle.controls.forEach((control) => {
      if (messages.length) {
        control.setAttribute("aria-invalid", "true");
      } else {
        control.removeAttribute("aria-invalid");
      }
    });
  }

  // ---- sections, fieldsets, rows --------------------------------------------------------------------

  function sectionNode(config, rules, readOnly, handles) {
    const section = el("section", "form-section");
    setId(section, config);
    addClasses(section, config.classes);
    const heading = el("h2", "section-title");
    const body = el("div", "section-body");
    body.id = uid("section-body");
    const collapsable = config.collapsable !== false;
    const state = { expand: () => {} };
    if (collapsable) {
      const toggle = el("button", "section-toggle", config.title);
      toggle.type = "button";
      toggle.setAttribute("aria-controls", body.id);
      const show = (open) => {
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
        body.hidden = !open;
      };
      show(config.initially_collapsed !== true);
      toggle.addEventListener("click", () => show(body.hidden));
      state.expand = () => show(true);
      heading.appendChild(toggle);
    } else {
      heading.appendChild(el("span", "", config.title));
    }
    section.append(heading, body);
    if (config.instruction) {
      body.appendChild(instruction(config.instruction, "section-instruction"));
    }
    config.fieldsets.forEach((fieldset) => {
      body.appendChild(fieldsetNode(fieldset, rules, readOnly, handles, state));
    });
    return section;
  }

  function fieldsetNode(config, rules, readOnly, handles, section) {
    const fieldset = el("fieldset", "form-fieldset");
    setId(fieldset, config);
    addClasses(fieldset, config.classes);
    if (config.title) {
      fieldset.appendChild(el("legend", "", config.title));
    }
    if (config.instruction) {
      fieldset.appendChild(instruction(config.instruction, "fieldset-instruction"));
    }
    config.rows.forEach((rowConfig) => {
      const row = el("div", "form-row");
      setId(row, rowConfig);
      addClasses(row, rowConfig.classes);
      rowConfig.fields.forEach((fieldConfig) => {
        const handle = fieldHandle(fieldConfig, rules, readOnly);
        handle.section = section;
        handles.push(handle);
        row.appendChild(handle.root);
      });
      fieldset.appendChild(row);
      if (rowConfig.help) {
        fieldset.appendChild(el("p", "row-help", rowConfig.help));
      }
    });
    if (config.help) {
      fieldset.appendChild(el("p", "fieldset-help", config.help));
    }
    return fieldset;
  }

  function instructionsBlock(form) {
    if (!form.instruction) {
      return null;
    }
    if (form.show_instructions_as_modal !== true) {
      return instruction(form.instruction, "form-instruction");
    }
    const wrapper = el("div", "form-instruction");
    const dialog = el("dialog");
    dialog.setAttribute("aria-label", "Instructions");
    dialog.appendChild(instruction(form.instruction, ""));
    const close = el("button", "secondary-button", "Close");
    close.type = "button";
    close.addEventListener("click", () => dialog.close());
    dialog.appendChild(close);
    const open = el("button", "secondary-button", "Show instructions");
    open.type = "button";
    open.addEventListener("click", () => dialog.showModal());
    wrapper.append(open, dialog);
    return wrapper;
  }

  function render(container, form, rules, options) {
    const readOnly = !!(options && options.readOnly);
    const handles = [];
    const title = el("h1", "form-title", form.title);
    setId(container, form);
    addClasses(container, form.classes);
    container.appendChild(title);
    const intro = instructionsBlock(form);
    if (intro) {
      container.appendChild(intro);
    }
    form.sections.forEach((section) => container.appendChild(sectionNode(section, rules, readOnly, handles)));
    return { fields: handles };
  }

  global.FormRender = { render: render };
})(window);
