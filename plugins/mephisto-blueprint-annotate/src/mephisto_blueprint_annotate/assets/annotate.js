/*
 * annotate.js: the annotate task page. Draws the unit's row with the task's schemes, lets the worker answer with
 * the mouse or the keyboard, checks each answer with the rules answers.py applies again on the server, and sends
 * the answer through mephisto.taskPage.handleFormSubmit.
 *
 * Keyboard: a label's shortcut (shown on its button) picks it anywhere on the page except while typing in a text
 * box. In a span text (Tab to it), Left/Right move the cursor, Shift+Left/Right select, Escape clears, and a span
 * label's shortcut marks the selection. Likert, pairwise and best-worst are radio groups (arrow keys), sliders
 * take arrow keys, Ctrl+Enter submits.
 */
(function () {
  "use strict";

  const root = document.getElementById("task-root");
  const page = window.mephisto && window.mephisto.taskPage;
  const el = page ? page.element : null;
  const REQUIRED = "This question needs an answer.";
  let keyListener = null; // the page-wide shortcut handler of the unit on show (one at a time)

  // ---- the rules (mirror of answers.py: same checks, same messages) ----------------------------------

  function num(value) {
    return String(value);
  }

  function labelsOf(scheme) {
    return scheme.labels.map((label) => label.value);
  }

  function problem(scheme, row, value) {
    const empty = value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length);
    if (empty) {
      if (scheme.type === "multi" && scheme.min_choices > 0) {
        return "Choose at least " + scheme.min_choices + ".";
      }
      return scheme.required ? REQUIRED : null;
    }
    const labels = labelsOf(scheme);
    switch (scheme.type) {
      case "single":
        return labels.includes(value) ? null : "Choose one of: " + labels.join(", ") + ".";
      case "multi": {
        const top = scheme.max_choices === null ? labels.length : scheme.max_choices;
        if (value.length < scheme.min_choices) {
          return "Choose at least " + scheme.min_choices + ".";
        }
        return value.length > top ? "Choose at most " + top + "." : null;
      }
      case "likert":
        return Number.isInteger(value) && value >= 1 && value <= scheme.points
          ? null
          : "Choose a point from 1 to " + scheme.points + ".";
      case "slider": {
        if (value < scheme.min || value > scheme.max) {
          return "Choose a value from " + num(scheme.min) + " to " + num(scheme.max) + ".";
        }
        const steps = (value - scheme.min) / scheme.step;
        return Math.abs(steps - Math.round(steps)) > 1e-6 ? "Choose a value in steps of " + num(scheme.step) + "." : null;
      }
      case "text":
        if (value.length < scheme.min_length) {
          return "Write at least " + scheme.min_length + " characters (now " + value.length + ").";
        }
        return value.length > scheme.max_length
          ? "Write at most " + scheme.max_length + " characters (now " + value.length + ")."
          : null;
      case "span": {
        const source = String(row[scheme.field] || "");
        const space = (i) => /\s/.test(source[i]);
        for (let i = 0; scheme.tokens && i < value.length; i += 1) {
          const s = value[i];
          const begins = s.start === 0 || space(s.start - 1) || space(s.start);
          const ends = s.end === source.length || space(s.end) || space(s.end - 1);
          if (!begins || !ends) {
            return "Span " + (i + 1) + " does not cover whole words.";
          }
        }
        if (!scheme.allow_overlap) {
          const ordered = value.map((s) => [s.start, s.end]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
          for (let i = 0; i + 1 < ordered.length; i += 1) {
            if (ordered[i][1] > ordered[i + 1][0]) {
              return "Spans may not overlap here; remove one of the overlapping spans.";
            }
          }
        }
        return null;
      }
      case "pairwise":
        return scheme.items.includes(value) || (scheme.allow_tie && value === "tie") ? null : "Choose one of the two.";
      case "bestworst":
        if (!value.best || !value.worst) {
          return "Choose the best and the worst.";
        }
        return value.best === value.worst ? "The best and the worst must be different items." : null;
      default:
        return null;
    }
  }

  // ---- controls: each returns {scheme, node, value(), onKey(key, event)?, setMessage(text)} ----------

  function block(scheme) {
    const node = el("fieldset", "scheme scheme-" + scheme.type);
    node.dataset.scheme = scheme.name;
    node.appendChild(el("legend", "question", (scheme.question || scheme.name) + (scheme.required ? " *" : "")));
    const message = el("p", "scheme-error");
    message.id = "error-" + scheme.name;
    return { node: node, message: message };
  }

  function labelButtons(scheme, onPick) {
    const row = el("div", "label-buttons");
    const buttons = new Map();
    scheme.labels.forEach((label) => {
      const button = el("button", "label-button", label.value);
      button.type = "button";
      button.dataset.value = label.value;
      if (label.key) {
        button.appendChild(el("kbd", "", label.key));
        button.title = "Shortcut: " + label.key;
        button.setAttribute("aria-keyshortcuts", label.key);
      }
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", () => onPick(label.value));
      buttons.set(label.value, button);
      row.appendChild(button);
    });
    return { row: row, buttons: buttons };
  }

  function choiceControl(scheme, changed) {
    const parts = block(scheme);
    let chosen = [];
    const multi = scheme.type === "multi";
    const { row, buttons } = labelButtons(scheme, pick);
    function pick(value) {
      if (multi) {
        chosen = chosen.includes(value) ? chosen.filter((v) => v !== value) : chosen.concat([value]);
        chosen = labelsOf(scheme).filter((v) => chosen.includes(v)); // in the labels' order
      } else {
        chosen = chosen[0] === value ? [] : [value];
      }
      buttons.forEach((button, value) => button.setAttribute("aria-pressed", String(chosen.includes(value))));
      changed();
    }
    parts.node.append(row, parts.message);
    return {
      node: parts.node,
      message: parts.message,
      value: () => (multi ? chosen.slice() : chosen.length ? chosen[0] : null),
      shortcut: (label) => pick(label),
    };
  }

  function radioGroup(name, options, changed) {
    const group = el("div", "radio-group");
    group.setAttribute("role", "radiogroup");
    const inputs = options.map((option) => {
      const wrap = el("label", "radio-option");
      const input = el("input");
      input.type = "radio";
      input.name = name;
      input.value = option.value;
      input.addEventListener("change", changed);
      wrap.append(input, el("span", "", option.label));
      group.appendChild(wrap);
      return input;
    });
    const value = () => {
      const checked = inputs.find((input) => input.checked);
      return checked ? checked.value : null;
    };
    return { group: group, value: value };
  }

  function likertControl(scheme, changed) {
    const parts = block(scheme);
    const options = [];
    for (let point = 1; point <= scheme.points; point += 1) {
      let label = String(point);
      if (point === 1 && scheme.low_label) {
        label += " " + scheme.low_label;
      } else if (point === scheme.points && scheme.high_label) {
        label += " " + scheme.high_label;
      }
      options.push({ value: String(point), label: label });
    }
    const radios = radioGroup("likert-" + scheme.name, options, changed);
    parts.node.append(radios.group, parts.message);
    return {
      node: parts.node,
      message: parts.message,
      value: () => (radios.value() === null ? null : Number(radios.value())),
    };
  }

  function sliderControl(scheme, changed) {
    const parts = block(scheme);
    const input = el("input");
    input.type = "range";
    input.min = scheme.min;
    input.max = scheme.max;
    input.step = scheme.step;
    input.value = scheme.min; // set after min and max: the thumb starts at the low end, not clamped to max
    input.setAttribute("aria-label", scheme.question || scheme.name);
    const shown = el("output", "slider-value", "not set");
    let touched = false;
    const touch = () => {
      touched = true;
      shown.textContent = input.value;
      changed();
    };
    input.addEventListener("input", touch);
    // Choosing the value the thumb already shows (the low end) fires no input event: a click or a move key counts.
    input.addEventListener("pointerup", touch);
    input.addEventListener("keyup", (event) => /^(Arrow|Home|End|Page)/.test(event.key) && touch());
    parts.node.append(input, shown, parts.message);
    return { node: parts.node, message: parts.message, value: () => (touched ? Number(input.value) : null) };
  }

  function textControl(scheme, changed) {
    const parts = block(scheme);
    const box = el("textarea");
    box.rows = scheme.rows;
    box.setAttribute("aria-label", scheme.question || scheme.name);
    const counter = el("span", "counter", "0 / " + scheme.max_length);
    box.addEventListener("input", () => {
      counter.textContent = box.value.length + " / " + scheme.max_length;
      changed();
    });
    parts.node.append(box, counter, parts.message);
    return { node: parts.node, message: parts.message, value: () => box.value };
  }

  function comparisonControl(scheme, row, changed) {
    const parts = block(scheme);
    const items = el("div", "compare-items");
    scheme.items.forEach((column, index) => {
      const card = el("div", "compare-item");
      card.append(el("div", "compare-name", String.fromCharCode(65 + index) + " (" + column + ")"));
      card.append(el("div", "compare-text", String(row[column])));
      items.appendChild(card);
    });
    parts.node.appendChild(items);
    const options = scheme.items.map((column, index) => ({ value: column, label: String.fromCharCode(65 + index) }));
    if (scheme.type === "pairwise") {
      if (scheme.allow_tie) {
        options.push({ value: "tie", label: "About the same" });
      }
      const radios = radioGroup("pair-" + scheme.name, options, changed);
      parts.node.append(radios.group, parts.message);
      return { node: parts.node, message: parts.message, value: radios.value };
    }
    const best = radioGroup("best-" + scheme.name, options, changed);
    const worst = radioGroup("worst-" + scheme.name, options, changed);
    parts.node.append(el("div", "bw-title", "Best"), best.group, el("div", "bw-title", "Worst"), worst.group);
    parts.node.appendChild(parts.message);
    return {
      node: parts.node,
      message: parts.message,
      value: () => (best.value() === null && worst.value() === null ? null : { best: best.value(), worst: worst.value() }),
    };
  }

  function spanControl(scheme, row, changed) {
    const parts = block(scheme);
    const source = String(row[scheme.field] || "");
    const spans = [];
    let anchor = 0; // the keyboard cursor and selection, as character offsets
    let cursor = 0;
    const text = el("div", "span-text");
    text.tabIndex = 0;
    text.setAttribute("role", "textbox");
    text.setAttribute("aria-readonly", "true");
    text.setAttribute("aria-label", "Text to mark: Shift+arrows select, then press a label's key");
    const list = el("ul", "span-list");
    const { row: buttons } = labelButtons(scheme, (label) => mark(label));
    const hint = el("p", "span-hint", "Select text (mouse, or Shift+arrows here), then press a label.");

    function snap(start, end) {
      if (!scheme.tokens) {
        return [start, end];
      }
      while (start > 0 && /\S/.test(source[start - 1])) {
        start -= 1;
      }
      while (end < source.length && /\S/.test(source[end])) {
        end += 1;
      }
      return [start, end];
    }

    function selection() {
      const start = Math.min(anchor, cursor);
      const end = Math.max(anchor, cursor);
      return start === end ? null : snap(start, end);
    }

    function render() {
      const sel = selection();
      const cuts = new Set([0, source.length, cursor]);
      spans.forEach((s) => cuts.add(s.start).add(s.end));
      if (sel) {
        cuts.add(sel[0]).add(sel[1]);
      }
      const points = Array.from(cuts).sort((a, b) => a - b);
      text.replaceChildren();
      for (let i = 0; i + 1 < points.length || i === 0; i += 1) {
        const start = points[i];
        const end = i + 1 < points.length ? points[i + 1] : start;
        if (start === cursor && document.activeElement === text) {
          text.appendChild(el("span", "caret"));
        }
        if (end <= start) {
          break;
        }
        const labels = spans.filter((s) => s.start <= start && end <= s.end).map((s) => s.label);
        const piece = el(labels.length ? "mark" : "span", sel && sel[0] <= start && end <= sel[1] ? "selecting" : "");
        piece.dataset.start = String(start);
        piece.textContent = source.slice(start, end);
        if (labels.length) {
          piece.title = labels.join(", ");
          piece.dataset.labels = labels.join(",");
        }
        text.appendChild(piece);
      }
      list.replaceChildren();
      spans.forEach((span, index) => {
        const item = el("li", "", span.label + ": \u201c" + span.text + "\u201d ");
        const remove = el("button", "span-remove", "remove");
        remove.type = "button";
        remove.setAttribute("aria-label", "Remove span " + (index + 1));
        remove.addEventListener("click", () => {
          spans.splice(index, 1);
          render();
          changed();
        });
        item.appendChild(remove);
        list.appendChild(item);
      });
    }

    function mark(label) {
      const sel = selection();
      if (!sel) {
        parts.message.textContent = "Select some text first, then choose a label.";
        return;
      }
      const span = { start: sel[0], end: sel[1], label: label, text: source.slice(sel[0], sel[1]) };
      if (spans.some((s) => s.start === span.start && s.end === span.end && s.label === label)) {
        return;
      }
      if (!scheme.allow_overlap && spans.some((s) => s.start < span.end && span.start < s.end)) {
        parts.message.textContent = "Spans may not overlap here; remove one of the overlapping spans.";
        return;
      }
      spans.push(span);
      spans.sort((a, b) => a.start - b.start || a.end - b.end);
      anchor = cursor = span.end;
      render();
      changed();
    }

    function offsetOf(node, offset) {
      let holder = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
      if (holder === text) {
        const child = text.childNodes[offset];
        return child && child.dataset && child.dataset.start !== undefined ? Number(child.dataset.start) : source.length;
      }
      while (holder && holder.parentElement !== text) {
        holder = holder.parentElement;
      }
      if (!holder || holder.dataset.start === undefined) {
        return null;
      }
      return Number(holder.dataset.start) + (node.nodeType === Node.TEXT_NODE ? offset : 0);
    }

    text.addEventListener("mouseup", () => {
      const chosen = window.getSelection();
      if (!chosen || chosen.rangeCount === 0 || !text.contains(chosen.anchorNode)) {
        return;
      }
      const a = offsetOf(chosen.anchorNode, chosen.anchorOffset);
      const b = offsetOf(chosen.focusNode, chosen.focusOffset);
      if (a !== null && b !== null) {
        anchor = a;
        cursor = b;
        chosen.removeAllRanges();
        text.focus();
        render();
      }
    });
    text.addEventListener("keydown", (event) => {
      const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
      if (step) {
        event.preventDefault();
        cursor = Math.max(0, Math.min(source.length, cursor + step));
        if (!event.shiftKey) {
          anchor = cursor;
        }
        render();
      } else if (event.key === "Escape") {
        anchor = cursor;
        render();
      }
    });
    text.addEventListener("focus", render);
    text.addEventListener("blur", render);
    parts.node.append(text, buttons, hint, list, parts.message);
    render();
    return {
      node: parts.node,
      message: parts.message,
      value: () => spans.map((s) => ({ start: s.start, end: s.end, label: s.label, text: s.text })),
      shortcut: (label) => mark(label),
    };
  }

  function control(scheme, row, changed) {
    switch (scheme.type) {
      case "single":
      case "multi":
        return choiceControl(scheme, changed);
      case "likert":
        return likertControl(scheme, changed);
      case "slider":
        return sliderControl(scheme, changed);
      case "text":
        return textControl(scheme, changed);
      case "span":
        return spanControl(scheme, row, changed);
      default:
        return comparisonControl(scheme, row, changed);
    }
  }

  // ---- the page -------------------------------------------------------------------------------------

  function progressKey(data) {
    return "mephisto-annotate-done:" + data.progress.task;
  }

  function header(data) {
    const parts = [];
    if (data.progress) {
      const done = Number(window.sessionStorage.getItem(progressKey(data)) || "0");
      const line = el("p", "progress", Math.min(done + 1, data.progress.total) + " of " + data.progress.total);
      line.setAttribute("aria-label", "Unit " + line.textContent);
      parts.push(line);
    }
    if (data.instructions) {
      const panel = el("details", "instructions");
      panel.open = true;
      panel.appendChild(el("summary", "", "Instructions"));
      const body = el("div", "instructions-body");
      body.innerHTML = data.instructions; // trusted: written by the researcher in the task file
      panel.appendChild(body);
      parts.push(panel);
    }
    const shown = el("dl", "row-fields");
    (data.display_fields || []).forEach((column) => {
      shown.append(el("dt", "", column), el("dd", "", String(data.row[column] === undefined ? "" : data.row[column])));
    });
    parts.push(shown);
    return parts;
  }

  function showTask(data, readOnly) {
    const form = el("form", "annotate-form");
    form.noValidate = true;
    const controls = [];
    const byKey = new Map();
    data.schemes.forEach((scheme) => {
      const handle = control(scheme, data.row, () => check(handle, false));
      handle.scheme = scheme;
      controls.push(handle);
      scheme.labels.forEach((label) => label.key && byKey.set(label.key, { handle: handle, value: label.value }));
      form.appendChild(handle.node);
    });
    function check(handle, showEmpty) {
      const value = handle.value();
      const message = problem(handle.scheme, data.row, value);
      const untouched = value === null || value === "" || (Array.isArray(value) && !value.length);
      handle.message.textContent = message && (showEmpty || !untouched) ? message : "";
      handle.node.setAttribute("aria-invalid", String(Boolean(handle.message.textContent)));
      return message;
    }
    const submit = el("button", "task-button", data.submit_button_text || "Submit");
    submit.type = "submit";
    const status = page.statusLine();
    const actions = el("div", "task-actions");
    actions.append(submit, el("span", "submit-hint", "Ctrl+Enter"), status);
    form.appendChild(actions);
    const top = header(data); // the progress line (floated right) comes before the title it sits beside
    const progress = top[0] && top[0].className === "progress" ? [top.shift()] : [];
    root.replaceChildren(...progress, el("h1", "", document.title), ...top, form);
    if (readOnly) {
      form.querySelectorAll("button, input, textarea").forEach((node) => (node.disabled = true));
      root.insertBefore(el("p", "preview-note", "This is a preview. Accept the task to annotate."), form);
      return;
    }

    if (keyListener) {
      document.removeEventListener("keydown", keyListener);
    }
    keyListener = (event) => {
      const typing = event.target && event.target.closest && event.target.closest("textarea, input[type=text]");
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
        return;
      }
      if (typing || event.ctrlKey || event.metaKey || event.altKey || !event.key || event.key.length !== 1) {
        return;
      }
      const target = byKey.get(event.key.toLowerCase());
      if (target) {
        event.preventDefault();
        target.handle.shortcut(target.value);
      }
    };
    document.addEventListener("keydown", keyListener);

    page.handleFormSubmit(form, {
      button: submit,
      status: status,
      check: () => {
        const failing = controls.filter((handle) => check(handle, true));
        if (!failing.length) {
          return null;
        }
        failing[0].node.scrollIntoView && failing[0].node.scrollIntoView({ block: "center" });
        return failing.length === 1
          ? "One answer needs fixing before you can submit."
          : failing.length + " answers need fixing before you can submit.";
      },
      collect: () => {
        const outputs = Object.create(null);
        controls.forEach((handle) => (outputs[handle.scheme.name] = handle.value()));
        return { outputs: outputs, files: {} };
      },
      showErrors: (fields) => {
        const unplaced = [];
        Object.keys(fields || {}).forEach((name) => {
          const handle = controls.find((h) => h.scheme.name === name);
          if (handle) {
            handle.message.textContent = fields[name];
            handle.node.setAttribute("aria-invalid", "true");
          } else {
            unplaced.push(name + ": " + fields[name]);
          }
        });
        return unplaced;
      },
      done: () => {
        if (data.progress) {
          const key = progressKey(data);
          window.sessionStorage.setItem(key, String(Number(window.sessionStorage.getItem(key) || "0") + 1));
        }
        page.showThanks(root);
      },
    });
  }

  // The rules, for tests that hold them against answers.py (the same messages for the same answers).
  window.mephistoAnnotateRules = { problem: problem };

  function start() {
    if (!page) {
      root.textContent = "The task could not load. Please reload the page.";
      return;
    }
    page.start(root, {
      preview: (data) => showTask(data, true),
      task: (data) => showTask(data, false),
    });
  }

  start();
})();
