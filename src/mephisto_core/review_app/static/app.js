// Mephisto review: the single-page app. Plain JavaScript, no build step, no external assets.
// Every API call sends the session token as a bearer header; the token comes from the page's link once and
// is kept in sessionStorage. Data is always put in the page with textContent, never parsed as HTML; the
// blueprint's own review HTML goes into a sandboxed frame where no script runs.
"use strict";

(function () {
  const TOKEN_KEY = "mephisto-review-token";
  const PAGE_SIZE = 50;

  const state = {
    token: null,
    session: null,
    tasks: [],
    task: null, // the selected task's detail
    offset: 0,
    total: 0,
    units: [], // the current page of unit summaries
    index: -1, // position of the open unit in `units`
    selected: new Set(),
    detail: null, // the open unit's detail
    busy: false,
    opening: 0, // counts openUnit calls: only the latest one may show its answer
    bonusKeys: {}, // unit id -> the key of the bonus being asked for there, kept until one is paid
    pending: null, // a verdict waiting out its undo time: {unitId, action, body, timer, label}
    wanted: null, // the task, filters and unit the page's address asked for, applied once on start
  };

  // A verdict is sent this long after it is given (the session's undo_seconds), so Undo can still take it back:
  // approvals pay money and cannot be reversed once sent.
  const undoMs = () => (state.session && Number.isFinite(state.session.undo_seconds) ? state.session.undo_seconds * 1000 : 5000);

  const $ = (id) => document.getElementById(id);

  // ---- tiny DOM helpers ----------------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value === true) node.setAttribute(key, "");
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function statusBadge(status) {
    // The stored words are the vocabulary everywhere (export, --status, here); the badge's title gives the meaning.
    const meanings = {
      completed: "submitted, awaiting review",
      accepted: "approved",
      rejected: "rejected",
      soft_rejected: "soft-rejected: paid, work not used",
    };
    return el("span", { class: `badge status-${status}`, title: meanings[status] || status, text: status.replace("_", "-") });
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 1) return "under 1 s";
    const s = Math.round(seconds);
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
    return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
  }

  function when(iso) {
    if (!iso) return "–";
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
  }

  function bytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  }

  // ---- messages ------------------------------------------------------------------------------------------

  function say(message) {
    $("error-message").textContent = "";
    $("status-message").textContent = message;
  }

  function complain(message) {
    $("status-message").textContent = "";
    $("error-message").textContent = message;
  }

  // ---- API -----------------------------------------------------------------------------------------------

  async function api(method, path, body) {
    const options = { method, headers: { Authorization: `Bearer ${state.token}` } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (error) {
      throw new Error(`The review server did not answer (${error.message}). Is \`mephisto review\` still running?`);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    if (!response.ok) {
      const detail = data && data.error ? data.error : `HTTP ${response.status}`;
      throw new Error(detail);
    }
    return data;
  }

  // Run an action: one at a time, errors shown as messages, the result handed to `then`.
  async function act(method, path, body, then) {
    if (state.busy) return;
    state.busy = true;
    document.body.setAttribute("aria-busy", "true");
    try {
      const result = await api(method, path, body);
      then(result);
    } catch (error) {
      complain(error.message);
    } finally {
      state.busy = false;
      document.body.removeAttribute("aria-busy");
    }
  }

  // ---- tasks and filters ---------------------------------------------------------------------------------

  async function loadTasks(data) {
    state.tasks = data.tasks;
    const select = $("task-select");
    clear(select);
    if (!state.tasks.length) {
      select.append(el("option", { value: "", text: "No tasks yet" }));
      $("unit-detail").replaceChildren(el("p", { class: "empty", text: "Nothing to review: launch a task first." }));
      return;
    }
    for (const task of state.tasks) {
      select.append(el("option", { value: task.id, text: `${task.name} (${task.awaiting_review} to review)` }));
    }
    const preferred = (state.wanted && state.wanted.task) || state.session.default_task_id;
    const first = state.tasks.find((t) => t.id === preferred) || state.tasks.find((t) => t.awaiting_review) || state.tasks[0];
    select.value = String(first.id);
    await selectTask(first.id);
  }

  async function selectTask(taskId) {
    const id = Number(taskId);
    const wanted = state.wanted && state.wanted.task === id ? state.wanted : null;
    state.wanted = null;
    if (wanted) setSelect("filter-status", wanted.status);
    // The task's detail and its first page are asked for at once: the page's filters are known before the detail
    // fills the run and worker lists. A run or worker the task does not have is asked for again (below).
    const asked = wanted
      ? unitQuery(id, $("filter-status").value, wanted.run, wanted.worker, wanted.offset || 0)
      : unitQuery(id, $("filter-status").value, null, null, 0);
    const page = api("GET", `/api/units?${asked}`);
    page.catch(() => {}); // awaited below, unless the filters came out otherwise
    state.task = await api("GET", `/api/tasks/${id}`);
    renderCounts(state.task);
    const run = $("filter-run");
    clear(run);
    run.append(el("option", { value: "", text: "Every run" }));
    for (const r of state.task.runs) {
      run.append(el("option", { value: r.id, text: `Run ${r.id} (${r.provider_type}${r.is_completed ? ", done" : ""})` }));
    }
    const worker = $("filter-worker");
    clear(worker);
    worker.append(el("option", { value: "", text: "Every worker" }));
    for (const w of state.task.workers) {
      worker.append(el("option", { value: w.id, text: `${w.name} (${w.units})` }));
    }
    state.offset = 0;
    state.selected.clear();
    if (wanted) {
      setSelect("filter-run", wanted.run);
      setSelect("filter-worker", wanted.worker);
      state.offset = wanted.offset || 0;
    }
    const fetched = filterQuery() === asked ? page : null;
    if (wanted) {
      await loadUnits(wanted.unit === null ? 0 : null, fetched);
      const at = state.units.findIndex((u) => u.unit_id === wanted.unit);
      if (wanted.unit !== null) await openUnit(at >= 0 ? at : 0);
    } else {
      await loadUnits(0, fetched);
    }
    loadAgreement();
  }

  function renderCounts(task) {
    const counts = task.unit_counts;
    $("task-counts").textContent =
      `${task.submitted} submitted: ${counts.completed || 0} completed (awaiting review), ` +
      `${counts.accepted || 0} accepted, ${counts.rejected || 0} rejected, ${counts.soft_rejected || 0} soft-rejected`;
    const option = $("task-select").querySelector(`option[value="${task.id}"]`);
    if (option) option.textContent = `${task.name} (${task.awaiting_review} to review)`;
  }

  // The header's counts after an action (or while a run is going): fetched again, never worked out here.
  async function refreshCounts() {
    if (!state.task) return;
    try {
      const task = await api("GET", `/api/tasks/${state.task.id}`);
      if (state.task && task.id === state.task.id) {
        state.task.unit_counts = task.unit_counts;
        renderCounts(task);
      }
    } catch (error) {
      complain(error.message);
    }
  }

  async function loadAgreement() {
    const panel = $("agreement-panel");
    if (!state.task || !state.task.has_agreement) {
      panel.hidden = true;
      return;
    }
    try {
      const data = await api("GET", `/api/tasks/${state.task.id}/agreement`);
      const body = panel.querySelector("tbody");
      clear(body);
      for (const [field, numbers] of Object.entries(data.fields)) {
        const percent = numbers.percent === null || numbers.percent === undefined ? "–" : `${numbers.percent.toFixed(1)} %`;
        const alpha = numbers.alpha === null || numbers.alpha === undefined ? "–" : numbers.alpha.toFixed(3);
        body.append(el("tr", {}, el("th", { scope: "row", text: field }), el("td", { text: percent }), el("td", { text: alpha }), el("td", { text: numbers.assignments })));
      }
      $("agreement-note").textContent = data.note || "Over assignments with two or more submitted units.";
      panel.hidden = false;
    } catch (error) {
      complain(`Agreement could not be computed: ${error.message}`);
    }
  }

  function unitQuery(taskId, status, run, worker, offset) {
    const params = new URLSearchParams();
    if (taskId !== null && taskId !== undefined) params.set("task", taskId);
    if (status) params.set("status", status);
    if (run) params.set("run", run);
    if (worker) params.set("worker", worker);
    params.set("offset", offset);
    params.set("limit", PAGE_SIZE);
    return params.toString();
  }

  function filterQuery() {
    const task = state.task ? state.task.id : null;
    return unitQuery(task, $("filter-status").value, $("filter-run").value, $("filter-worker").value, state.offset);
  }

  // ---- the unit list -------------------------------------------------------------------------------------

  // The task, filters and open unit live in the address (beside the token the server asks for), so a reload
  // shows the same view.
  function writeAddress() {
    const params = new URLSearchParams();
    if (state.token) params.set("token", state.token);
    if (state.task) params.set("task", state.task.id);
    params.set("status", $("filter-status").value);
    if ($("filter-run").value) params.set("run", $("filter-run").value);
    if ($("filter-worker").value) params.set("worker", $("filter-worker").value);
    if (state.offset) params.set("offset", state.offset);
    const open = state.units[state.index];
    if (open) params.set("unit", open.unit_id);
    history.replaceState(null, "", `${window.location.pathname}?${params.toString()}`);
  }

  function readAddress() {
    const params = new URLSearchParams(window.location.search);
    const number = (name) => (params.get(name) && /^\d+$/.test(params.get(name)) ? Number(params.get(name)) : null);
    return {
      task: number("task"),
      status: params.has("status") ? params.get("status") : null,
      run: number("run"),
      worker: number("worker"),
      offset: number("offset"),
      unit: number("unit"),
    };
  }

  function setSelect(id, value) {
    const select = $(id);
    if (value === null || value === undefined) return;
    if (Array.from(select.options).some((o) => o.value === String(value))) select.value = String(value);
  }

  // `fetched`: this page's answer already asked for (selectTask asks for it beside the task's detail).
  async function loadUnits(openIndex, fetched) {
    const opened = state.opening;
    const data = await (fetched || api("GET", `/api/units?${filterQuery()}`));
    const chosen = state.opening !== opened ? state.units[state.index] : null;
    state.units = data.units;
    state.total = data.total;
    if (chosen) {
      // The reviewer opened a unit while the list was loading: theirs stays open, marked in the new list.
      state.index = state.units.findIndex((unit) => unit.unit_id === chosen.unit_id);
      renderUnitList();
      writeAddress();
      return;
    }
    renderUnitList();
    if (state.units.length && openIndex !== null) {
      const index = openIndex < 0 ? state.units.length - 1 : Math.min(openIndex, state.units.length - 1);
      await openUnit(index);
    } else if (!state.units.length) {
      state.index = -1;
      state.detail = null;
      $("unit-detail").replaceChildren(el("p", { class: "empty", text: "No unit matches these filters." }));
    }
    writeAddress();
  }

  function renderUnitList() {
    const body = $("unit-table").querySelector("tbody");
    clear(body);
    state.units.forEach((unit, i) => {
      const open = el("button", {
        type: "button",
        class: "link-button",
        "aria-label": `Open unit ${unit.unit_id}`,
        onclick: () => openUnit(i),
      }, `#${unit.unit_id}`);
      const check = el("input", {
        type: "checkbox",
        "aria-label": `Select unit ${unit.unit_id}`,
        checked: state.selected.has(unit.unit_id),
        onchange: (event) => toggleSelected(unit.unit_id, event.target.checked),
      });
      const row = el("tr", { "data-unit": unit.unit_id, "aria-current": i === state.index ? "true" : null },
        el("td", {}, check),
        el("td", {}, open),
        el("td", { text: unit.worker_id || "–" }),
        el("td", {}, statusBadge(unit.status)),
        el("td", { text: duration(unit.duration_s) }));
      body.append(row);
    });
    const last = Math.min(state.offset + state.units.length, state.total);
    $("unit-count").textContent = state.total ? `${state.total} ${state.total === 1 ? "unit matches" : "units match"}.` : "No unit matches.";
    $("page-info").textContent = state.total ? `${state.offset + 1}–${last} of ${state.total}` : "";
    $("prev-page").disabled = state.offset === 0;
    $("next-page").disabled = state.offset + state.units.length >= state.total;
    $("select-all").checked = state.units.length > 0 && state.units.every((u) => state.selected.has(u.unit_id));
    renderBulkPanel();
  }

  function markCurrentRow() {
    for (const row of $("unit-table").querySelectorAll("tbody tr")) {
      if (Number(row.dataset.unit) === (state.units[state.index] || {}).unit_id) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    }
  }

  function updateRow(unitId, status) {
    const unit = state.units.find((u) => u.unit_id === unitId);
    if (!unit) return;
    unit.status = status;
    const row = $("unit-table").querySelector(`tr[data-unit="${unitId}"]`);
    if (row) row.children[3].replaceChildren(statusBadge(status));
  }

  function toggleSelected(unitId, on) {
    if (on) state.selected.add(unitId);
    else state.selected.delete(unitId);
    const box = $("unit-table").querySelector(`tr[data-unit="${unitId}"] input[type=checkbox]`);
    if (box) box.checked = on;
    renderBulkPanel();
  }

  async function move(step) {
    if (!state.units.length) return;
    const next = state.index + step;
    if (next >= 0 && next < state.units.length) {
      await openUnit(next);
    } else if (next >= state.units.length && state.offset + state.units.length < state.total) {
      state.offset += PAGE_SIZE;
      await loadUnits(0);
    } else if (next < 0 && state.offset > 0) {
      state.offset = Math.max(0, state.offset - PAGE_SIZE);
      await loadUnits(-1);
    } else {
      say(step > 0 ? "This is the last unit." : "This is the first unit.");
    }
  }

  // ---- bulk actions --------------------------------------------------------------------------------------

  const BULK_FIELDS = {
    approve: ["feedback"],
    reject: ["feedback"],
    "soft-reject": ["feedback"],
    bonus: ["amount", "reason"],
    block: ["reason"],
    unblock: [],
    grant: ["qualification", "value"],
    revoke: ["qualification"],
  };

  const BULK_WORKER_ACTIONS = ["block", "unblock", "grant", "revoke"];

  function renderBulkPanel() {
    const panel = $("bulk-panel");
    panel.hidden = state.selected.size === 0;
    $("bulk-count").textContent = String(state.selected.size);
    $("bulk-noun").textContent = state.selected.size === 1 ? "unit" : "units";
    const fields = BULK_FIELDS[$("bulk-action").value];
    for (const box of panel.querySelectorAll("[data-bulk]")) box.hidden = !fields.includes(box.dataset.bulk);
    // Every unit of this page chosen, and more match on other pages: offer them all.
    const wholePage = state.units.length > 0 && state.units.every((u) => state.selected.has(u.unit_id));
    $("bulk-matching").hidden = !(wholePage && state.total > state.selected.size);
    $("matching-count").textContent = String(state.total);
  }

  async function selectMatching() {
    const query = new URLSearchParams(filterQuery());
    query.delete("offset");
    query.delete("limit");
    try {
      const data = await api("GET", `/api/units/ids?${query.toString()}`);
      state.selected = new Set(data.unit_ids);
      renderUnitList();
      say(`All ${data.total} ${data.total === 1 ? "unit" : "units"} that match are selected.`);
    } catch (error) {
      complain(error.message);
    }
  }

  function bulkBody() {
    const action = $("bulk-action").value;
    const body = { action, unit_ids: Array.from(state.selected) };
    const fields = BULK_FIELDS[action];
    if (fields.includes("feedback")) body.feedback = $("bulk-feedback").value;
    if (fields.includes("amount")) body.amount = $("bulk-amount").value.trim();
    if (fields.includes("reason")) body.reason = $("bulk-reason").value;
    if (fields.includes("qualification")) body.qualification = $("bulk-qualification").value;
    if (fields.includes("value")) body.value = $("bulk-value").value.trim() || "1";
    return body;
  }

  // A bulk action goes to the server in parts of the server's largest bulk (`max_bulk`), one after the other, so
  // every unit that matches a filter can be decided at once. A worker action takes one part at most: across parts
  // a worker could be acted on twice.
  async function applyBulk(event) {
    event.preventDefault();
    if (state.busy) return;
    const body = bulkBody();
    const ids = body.unit_ids;
    const part = (state.session && state.session.max_bulk) || 500;
    if (ids.length > part && BULK_WORKER_ACTIONS.includes(body.action)) {
      complain(`Worker actions take at most ${part} units at a time; ${ids.length} are selected.`);
      return;
    }
    state.busy = true;
    document.body.setAttribute("aria-busy", "true");
    let done = 0;
    const refused = [];
    try {
      for (let at = 0; at < ids.length; at += part) {
        if (ids.length > part) say(`${body.action}: ${at} of ${ids.length} units sent…`);
        const result = await api("POST", "/api/units/bulk", { ...body, unit_ids: ids.slice(at, at + part) });
        for (const item of result.results) {
          if (item.ok && item.status) updateRow(item.unit_id, item.status);
        }
        done += result.done;
        refused.push(...result.results.filter((r) => !r.ok));
      }
      const summary = `${body.action}: ${done} done, ${refused.length} refused.`;
      const shown = refused.slice(0, 10).map((r) => `Unit ${r.unit_id}: ${r.error}`);
      if (refused.length > 10) shown.push(`(${refused.length - 10} more)`);
      if (refused.length) complain(`${summary} ${shown.join(" ")}`);
      else say(summary);
    } catch (error) {
      complain(`${error.message} (${done} of ${ids.length} units were done before it; the rest were not sent)`);
    } finally {
      state.busy = false;
      document.body.removeAttribute("aria-busy");
    }
    state.selected.clear();
    refreshCounts(); // the header's counts, as after a single verdict
    if (ids.length > part) await loadUnits(null).catch((e) => complain(e.message));
    else renderUnitList();
    if (state.index >= 0 && state.index < state.units.length) openUnit(state.index, { keepFocus: true });
  }

  // ---- one unit ------------------------------------------------------------------------------------------

  async function openUnit(index, options) {
    state.index = index;
    markCurrentRow();
    const unit = state.units[index];
    writeAddress();
    const ticket = ++state.opening;
    try {
      const detail = await api("GET", `/api/units/${unit.unit_id}`);
      // Pressing j or k twice quickly opens two units; answers may come back in either order, and only the
      // last unit asked for may be shown (else the pane and the highlighted row disagree).
      if (ticket !== state.opening) return;
      // The same unit drawn again (opened twice, a late answer) keeps what the reviewer has typed meanwhile, and
      // the field they are typing in keeps the focus (else their next keys would go nowhere).
      const typed = state.detail && state.detail.unit.unit_id === unit.unit_id ? typedValues() : null;
      const active = document.activeElement;
      const typingIn = typed && active && active.id && $("unit-detail").contains(active) ? active.id : null;
      showDetail(detail);
      if (typed) restoreTyped(typed);
      const field = typingIn ? document.getElementById(typingIn) : null;
      if (field) field.focus();
      else if (!(options && options.keepFocus)) $("unit-detail").focus({ preventScroll: false });
    } catch (error) {
      if (ticket === state.opening) complain(error.message);
    }
  }

  function typedValues() {
    const values = {};
    for (const field of $("unit-detail").querySelectorAll("input[id], textarea[id]")) {
      if (!["checkbox", "radio", "hidden", "submit", "button"].includes(field.type)) values[field.id] = field.value;
    }
    return values;
  }

  function restoreTyped(values) {
    for (const [id, value] of Object.entries(values)) {
      const field = document.getElementById(id);
      if (field) field.value = value;
    }
  }

  // What an action answered is newer than any unit answer still on its way (asked before the action, answered
  // late): those are dropped, so a late "awaiting review" never replaces "approved".
  function showActionResult(detail) {
    state.opening += 1;
    showDetail(detail);
  }

  function showDetail(detail) {
    state.detail = detail;
    const unit = detail.unit;
    updateRow(unit.unit_id, unit.status);
    const pane = $("unit-detail");
    pane.replaceChildren(
      el("h2", { id: "unit-heading" }, `Unit ${unit.unit_id} `, statusBadge(unit.status)),
      el("p", { class: "meta" },
        `Task ${unit.task} · run ${unit.task_run_id} · assignment ${unit.assignment_id} · slot ${unit.unit_index} · ` +
        `worker ${unit.worker_id || "–"} · submitted ${when(unit.submitted_at)} · time spent ${duration(unit.duration_s)}`),
      verdictForm(unit),
      bonusForm(unit),
      submissionSection(detail),
      workerSection(detail.worker, unit),
      historySection(unit.review),
    );
  }

  function verdictForm(unit) {
    const allowed = unit.allowed;
    const feedback = el("textarea", { id: "feedback", rows: 3, maxlength: state.session.max_text, "aria-describedby": "feedback-hint" });
    feedback.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        verdict("reject");
      }
    });
    return el("section", { class: "panel actions", "aria-labelledby": "verdict-heading" },
      el("h3", { id: "verdict-heading", text: "Verdict" }),
      el("div", { class: "field" },
        el("label", { for: "feedback", text: "Feedback to the worker" }),
        feedback,
        el("p", { id: "feedback-hint", class: "hint", text: "Required to reject. Ctrl+Enter here rejects." })),
      el("div", { class: "button-row" },
        el("button", { type: "button", id: "approve-button", class: "primary", "aria-keyshortcuts": "a", disabled: !allowed.approve, onclick: () => verdict("approve") }, "Approve ", el("kbd", { text: "a" })),
        el("button", { type: "button", id: "reject-button", class: "danger", "aria-keyshortcuts": "r", disabled: !allowed.reject, onclick: () => verdict("reject") }, "Reject ", el("kbd", { text: "r" })),
        el("button", { type: "button", id: "soft-reject-button", "aria-keyshortcuts": "s", disabled: !allowed.soft_reject, onclick: () => verdict("soft-reject") }, "Soft-reject ", el("kbd", { text: "s" }))));
  }

  // A bonus's client key: pressing Pay twice (or the request being retried) sends the same key, and the payments
  // ledger pays once per key (bonusForm keeps one per unit until a bonus there is paid).
  function newClientKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function bonusForm(unit) {
    // One key per bonus asked for on this unit, whatever redraws the form: a press whose answer was lost and the
    // press after it are the same bonus, paid once. A paid bonus frees the unit for the next one.
    const clientKey = (state.bonusKeys[unit.unit_id] ||= newClientKey());
    const submit = (event) => {
      event.preventDefault();
      const body = { amount: $("bonus-amount").value.trim(), reason: $("bonus-reason").value, client_key: clientKey };
      act("POST", `/api/units/${unit.unit_id}/bonus`, body, (result) => {
        delete state.bonusKeys[unit.unit_id];
        say(result.message);
        showActionResult(result);
      });
    };
    return el("form", { class: "panel bonus", "aria-labelledby": "bonus-heading", novalidate: true, onsubmit: submit },
      el("h3", { id: "bonus-heading", text: "Bonus" }),
      el("div", { class: "inline-fields" },
        el("div", { class: "field" },
          el("label", { for: "bonus-amount", text: "Amount" }),
          el("input", { id: "bonus-amount", type: "text", inputmode: "decimal", autocomplete: "off", placeholder: "0.50", size: 8 })),
        el("div", { class: "field grow" },
          el("label", { for: "bonus-reason", text: "Reason (the worker sees it)" }),
          el("input", { id: "bonus-reason", type: "text", autocomplete: "off", maxlength: state.session.max_text }))),
      el("button", { type: "submit", id: "bonus-button", disabled: !unit.allowed.bonus }, "Pay bonus"));
  }

  function verdict(action) {
    const detail = state.detail;
    if (!detail) return;
    const feedback = $("feedback");
    const body = { feedback: feedback ? feedback.value : "" };
    if (action === "reject" && !body.feedback.trim()) {
      complain("Rejecting needs feedback: tell the worker why.");
      if (feedback) feedback.focus();
      return;
    }
    // Given now, sent after UNDO_MS unless undone; the reviewer moves on to the next unit at once.
    sendPending();
    const unitId = detail.unit.unit_id;
    const words = { approve: "approved", reject: "rejected", "soft-reject": "soft-rejected" };
    const pending = { unitId, action, body, label: words[action] };
    pending.timer = setTimeout(() => sendPending(), undoMs());
    state.pending = pending;
    showPending(pending);
    const at = state.units.findIndex((u) => u.unit_id === unitId);
    // On the last unit the page stays (its "This is the last unit." would hide the Undo).
    const hasNext = at + 1 < state.units.length || state.offset + state.units.length < state.total;
    if (at >= 0 && at === state.index && hasNext) move(1);
  }

  function showPending(pending) {
    const undo = el("button", { type: "button", id: "undo-button", onclick: undoPending }, "Undo ", el("kbd", { text: "u" }));
    $("error-message").textContent = "";
    $("status-message").replaceChildren(`Unit ${pending.unitId} will be ${pending.label} in ${undoMs() / 1000} s. `, undo);
    const row = $("unit-table").querySelector(`tr[data-unit="${pending.unitId}"]`);
    if (row) row.classList.add("pending");
  }

  function undoPending() {
    const pending = state.pending;
    if (!pending) return;
    clearTimeout(pending.timer);
    state.pending = null;
    const row = $("unit-table").querySelector(`tr[data-unit="${pending.unitId}"]`);
    if (row) row.classList.remove("pending");
    say(`Undone: unit ${pending.unitId} was not ${pending.label}.`);
    const at = state.units.findIndex((u) => u.unit_id === pending.unitId);
    if (at >= 0) openUnit(at);
  }

  // Send the verdict waiting out its undo time, if any (another verdict, leaving the page, or the time is up).
  function sendPending(leaving) {
    const pending = state.pending;
    if (!pending) return;
    clearTimeout(pending.timer);
    state.pending = null;
    const path = `/api/units/${pending.unitId}/${pending.action}`;
    if (leaving) {
      fetch(path, { method: "POST", keepalive: true, headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json" }, body: JSON.stringify(pending.body) });
      return;
    }
    api("POST", path, pending.body).then(
      (result) => {
        const row = $("unit-table").querySelector(`tr[data-unit="${pending.unitId}"]`);
        if (row) row.classList.remove("pending");
        updateRow(pending.unitId, result.unit.status);
        // Redrawn only when still the open unit (not when the page moved on and the next one is on its way).
        const open = state.units[state.index];
        if (open && open.unit_id === pending.unitId) showActionResult(result);
        if (!state.pending) say(result.message); // a newer pending verdict keeps its Undo on screen
        refreshCounts();
      },
      (error) => complain(`Unit ${pending.unitId}: ${error.message}`)
    );
  }

  function submissionSection(detail) {
    const unit = detail.unit;
    const section = el("section", { class: "panel submission", "aria-labelledby": "submission-heading" },
      el("h3", { id: "submission-heading", text: "Submission" }));
    if (detail.render.note) section.append(el("p", { class: "note", text: detail.render.note }));
    section.append(answersList(detail.summary || []));
    // The server's text, not unit.inputs/outputs: JSON.parse rounds integers beyond 2^53 (and a very long one
    // becomes Infinity, which JSON.stringify writes as null), so the page never formats numbers itself.
    // Inputs stay in sight when short; a long one (a whole form definition) is one click away.
    const inputs = valuesTable("Inputs", detail.shown.inputs);
    const inputsLength = JSON.stringify(detail.shown.inputs || "").length;
    section.append(inputsLength > 600 ? el("details", { class: "task-view" }, el("summary", { text: "Inputs" }), inputs) : inputs);
    if (detail.render.html) {
      const frame = el("iframe", { title: `The answer of unit ${unit.unit_id} as its task shows it`, class: "review-frame", sandbox: "allow-same-origin" });
      frame.srcdoc = `<!doctype html><html><head><meta charset="utf-8"><style>${FRAME_CSS}</style></head><body>${detail.render.html}</body></html>`;
      // Sized to its content when loaded and when opened (a closed <details> lays nothing out).
      const fit = () => {
        const doc = frame.contentDocument;
        if (doc && doc.documentElement) frame.style.height = `${Math.min(doc.documentElement.scrollHeight + 8, 2000)}px`;
      };
      frame.addEventListener("load", fit);
      const view = el("details", { class: "task-view", id: "task-view", ontoggle: fit }, el("summary", { text: "The answer as the task page shows it" }), frame);
      section.append(view);
    } else {
      section.append(el("details", { class: "task-view", id: "task-view" }, el("summary", { text: "Raw outputs" }), valuesTable("Outputs", detail.shown.outputs)));
    }
    section.append(filesTable(unit.files));
    if (unit.procedure_calls && unit.procedure_calls.length) section.append(callsTable(unit.procedure_calls));
    return section;
  }

  // Styles for a blueprint's review HTML: a readable font, and chosen options told apart from the others even
  // when the blueprint draws them as disabled controls.
  const FRAME_CSS = [
    "body{font:15px/1.5 system-ui,sans-serif;color:#1b1f24;margin:8px}",
    "input:disabled,select:disabled,textarea:disabled{opacity:1;color:#1b1f24;background:#fff}",
    "input[type=checkbox],input[type=radio]{accent-color:#1a56db;width:1.1em;height:1.1em}",
    "label:has(input:checked){background:#dbe8ff;font-weight:600;border-radius:4px;padding:0 4px}",
    "label:has(input[type=checkbox]:not(:checked)),label:has(input[type=radio]:not(:checked)){color:#6b7280}",
    "option:checked{background:#dbe8ff;font-weight:600}",
    "img{max-width:100%}",
  ].join("");

  // The readable summary: one row per answer, drawn by its kind (the server made every text).
  function answersList(entries) {
    if (!entries.length) return el("p", { class: "muted", text: "No answers were submitted." });
    const list = el("dl", { class: "answers", id: "answers" });
    for (const entry of entries) {
      list.append(el("dt", { text: entry.label, title: entry.field }), el("dd", { "data-kind": entry.kind, "data-field": entry.field }, answerValue(entry)));
    }
    return list;
  }

  function answerValue(entry) {
    switch (entry.kind) {
      case "yes_no":
        return entry.value
          ? el("span", { class: "tick yes" }, el("span", { "aria-hidden": "true", text: "\u2611 " }), "Yes (ticked)")
          : el("span", { class: "tick no" }, el("span", { "aria-hidden": "true", text: "\u2610 " }), "No (not ticked)");
      case "choices":
        return el("ul", { class: "chosen" }, entry.items.map((item) => el("li", { class: "choice", text: item })));
      case "files":
        return el("ul", { class: "thumbs" }, entry.files.map((file) => el("li", {},
          file.is_image
            ? el("a", { href: file.url, target: "_blank", rel: "noopener" }, el("img", { src: file.url, alt: file.name, class: "thumb", loading: "lazy" }))
            : null,
          el("a", { href: file.url, download: file.name, text: file.name }))));
      case "empty":
        return el("span", { class: "muted", text: "(no answer)" });
      case "json":
        return el("pre", { text: entry.text });
      default:
        return el("div", { class: "answer-text", text: entry.text });
    }
  }

  // `shown`: [[key, text], ...] for an object (in stored order), one text otherwise, null when nothing was submitted.
  function valuesTable(title, shown) {
    const table = el("table", { class: "values" }, el("caption", { text: title }));
    const body = el("tbody");
    if (Array.isArray(shown)) {
      if (!shown.length) body.append(el("tr", {}, el("td", { colspan: 2, class: "muted", text: "(empty)" })));
      for (const [key, text] of shown) {
        body.append(el("tr", {}, el("th", { scope: "row", text: key }), el("td", {}, el("pre", { text }))));
      }
    } else {
      body.append(el("tr", {}, el("td", { colspan: 2 }, el("pre", { text: shown === null ? "(nothing submitted)" : shown }))));
    }
    table.append(body);
    return table;
  }

  function filesTable(files) {
    if (!files.length) return el("p", { class: "muted", text: "No files were uploaded." });
    const body = el("tbody");
    for (const file of files) {
      body.append(el("tr", {},
        el("td", { text: file.field }),
        el("td", {}, el("a", { href: file.url, download: file.name }, file.name)),
        el("td", { text: bytes(file.size) }),
        el("td", { text: file.type })));
    }
    return el("table", { class: "values files" },
      el("caption", { text: "Files" }),
      el("thead", {}, el("tr", {}, ["Field", "Name", "Size", "Type"].map((h) => el("th", { scope: "col", text: h })))),
      body);
  }

  // The remote procedure calls the worker's page made (docs/procedures.md): what was asked, what came back.
  function callsTable(calls) {
    const body = el("tbody");
    for (const call of calls) {
      const answer = call.error_code
        ? el("span", { class: "call-error", text: `${call.error_code}: ${call.error || ""}` })
        : el("pre", { text: JSON.stringify(call.result) });
      body.append(el("tr", { class: "procedure-call" },
        el("td", { text: call.name }),
        el("td", {}, el("pre", { text: JSON.stringify(call.args) })),
        el("td", {}, answer),
        el("td", { text: call.duration_ms === null ? "unfinished" : `${Math.round(call.duration_ms)} ms` })));
    }
    return el("table", { class: "values calls", id: "procedure-calls" },
      el("caption", { text: `Procedure calls (${calls.length})` }),
      el("thead", {}, el("tr", {}, ["Procedure", "Arguments", "Answer", "Time"].map((h) => el("th", { scope: "col", text: h })))),
      body);
  }

  function workerSection(worker, unit) {
    if (!worker) return el("section", { class: "panel" }, el("h3", { text: "Worker" }), el("p", { class: "muted", text: "No worker has taken this unit." }));
    const rate = worker.approval_rate === null || worker.approval_rate === undefined ? "no reviews yet" : `${Math.round(worker.approval_rate * 100)} %`;
    const stats = el("dl", { class: "stats" },
      el("dt", { text: "Units submitted" }), el("dd", { text: worker.submitted }),
      el("dt", { text: "Completed (awaiting review)" }), el("dd", { text: worker.awaiting_review }),
      el("dt", { text: "Accepted (approved)" }), el("dd", { text: worker.approved }),
      el("dt", { text: "Rejected" }), el("dd", { text: worker.rejected }),
      el("dt", { text: "Approval rate" }), el("dd", { text: rate }),
      el("dt", { text: "Blocked" }), el("dd", { id: "worker-blocked", text: worker.blocked ? "yes" : "no" }));

    const blockReason = el("input", { id: "block-reason", type: "text", autocomplete: "off", maxlength: state.session.max_text });
    const blockForm = el("form", {
      class: "inline-form", novalidate: true, onsubmit: (event) => {
        event.preventDefault();
        const action = worker.blocked ? "unblock" : "block";
        const body = worker.blocked ? {} : { reason: blockReason.value };
        workerAction(worker, action, body);
      },
    },
      worker.blocked ? null : el("div", { class: "field grow" }, el("label", { for: "block-reason", text: "Reason for blocking" }), blockReason),
      el("button", { type: "submit", id: "block-button", class: worker.blocked ? "" : "danger" }, worker.blocked ? "Unblock worker" : "Block worker"));

    const qualName = el("input", { id: "qualification-name", type: "text", list: "qualification-names", autocomplete: "off", maxlength: 200 });
    const qualValue = el("input", { id: "qualification-value", type: "number", step: 1, value: 1, size: 5 });
    const qualForm = el("form", { class: "inline-form", novalidate: true, onsubmit: (event) => event.preventDefault() },
      el("div", { class: "field grow" }, el("label", { for: "qualification-name", text: "Qualification" }), qualName),
      el("div", { class: "field" }, el("label", { for: "qualification-value", text: "Value" }), qualValue),
      el("button", { type: "button", id: "grant-button", onclick: () => workerAction(worker, "grant", { qualification: qualName.value, value: qualValue.value.trim() || "1", unit_id: unit.unit_id }) }, "Grant"),
      el("button", { type: "button", id: "revoke-button", onclick: () => workerAction(worker, "revoke", { qualification: qualName.value, unit_id: unit.unit_id }) }, "Revoke"));

    const quals = worker.qualifications.length
      ? el("ul", { class: "plain" }, worker.qualifications.map((q) => el("li", { text: `${q.name} = ${q.value}` })))
      : el("p", { class: "muted", text: "No qualifications." });

    const reviews = worker.reviews.length
      ? el("ol", { class: "plain history" }, worker.reviews.map((r) => el("li", {},
        `${when(r.when)}: ${r.kind}${r.unit ? ` (unit ${r.unit})` : ""}${r.amount ? ` ${r.amount}` : ""}${r.feedback ? ` – ${r.feedback}` : ""}`)))
      : el("p", { class: "muted", text: "No review actions yet." });

    return el("section", { class: "panel worker", "aria-labelledby": "worker-heading" },
      el("h3", { id: "worker-heading" }, `Worker ${worker.name} `, worker.blocked ? el("span", { class: "badge blocked", text: "blocked" }) : null,
        el("span", { class: "muted", text: ` (${worker.provider_type})` })),
      stats, blockForm, qualForm,
      el("h4", { text: "Qualifications" }), quals,
      el("h4", { text: `Latest review actions (${worker.review_count} in all)` }), reviews);
  }

  function workerAction(worker, action, body) {
    act("POST", `/api/workers/${worker.id}/${action}`, body, (result) => {
      say(result.message);
      if (state.detail) {
        state.detail.worker = { ...result.worker, reviews: result.worker.reviews.slice(0, 20) };
        showActionResult(state.detail);
      }
      loadQualificationNames();
    });
  }

  function historySection(review) {
    const list = review.length
      ? el("ol", { class: "plain history" }, review.map((r) => el("li", {},
        `${when(r.created_at)}: ${r.kind}${r.amount !== null ? ` ${r.amount.toFixed(2)}` : ""}${r.feedback ? ` – ${r.feedback}` : ""}${r.reviewer ? ` (${r.reviewer})` : ""}`)))
      : el("p", { class: "muted", text: "Not reviewed yet." });
    return el("section", { class: "panel", "aria-labelledby": "history-heading" }, el("h3", { id: "history-heading", text: "Review history of this unit" }), list);
  }

  async function loadQualificationNames() {
    try {
      const data = await api("GET", "/api/qualifications");
      $("qualification-names").replaceChildren(...data.qualifications.map((q) => el("option", { value: q.name })));
    } catch (error) {
      complain(error.message);
    }
  }

  // ---- keyboard ------------------------------------------------------------------------------------------

  function typing(target) {
    return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  function onKey(event) {
    const help = $("help-dialog");
    if (event.key === "Escape") {
      if (help.open) help.close();
      else if (typing(event.target)) event.target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target) || help.open) return;
    const focusField = (id) => {
      const field = $(id);
      if (field) {
        event.preventDefault();
        field.focus();
      }
    };
    switch (event.key) {
      case "j": case "n": event.preventDefault(); move(1); break;
      case "k": case "p": event.preventDefault(); move(-1); break;
      case "a": event.preventDefault(); verdict("approve"); break;
      case "s": event.preventDefault(); verdict("soft-reject"); break;
      case "r": focusField("feedback"); break;
      case "b": focusField("bonus-amount"); break;
      case "x":
        if (state.index >= 0) {
          const id = state.units[state.index].unit_id;
          toggleSelected(id, !state.selected.has(id));
        }
        break;
      case "u": event.preventDefault(); undoPending(); break;
      case "?": event.preventDefault(); help.showModal(); break;
      default: break;
    }
  }

  // ---- start ---------------------------------------------------------------------------------------------

  function readToken() {
    const fromLink = new URLSearchParams(window.location.search).get("token");
    if (fromLink) sessionStorage.setItem(TOKEN_KEY, fromLink);
    return fromLink || sessionStorage.getItem(TOKEN_KEY);
  }

  async function start() {
    state.token = readToken();
    state.wanted = readAddress();
    window.addEventListener("pagehide", () => sendPending(true));
    setInterval(refreshCounts, 15000); // runs still going add units awaiting review
    document.addEventListener("keydown", onKey);
    $("help-button").addEventListener("click", () => $("help-dialog").showModal());
    $("help-close").addEventListener("click", () => $("help-dialog").close());
    $("task-select").addEventListener("change", (event) => selectTask(event.target.value).catch((e) => complain(e.message)));
    for (const id of ["filter-status", "filter-run", "filter-worker"]) {
      $(id).addEventListener("change", () => {
        state.offset = 0;
        loadUnits(0).catch((e) => complain(e.message));
      });
    }
    $("prev-page").addEventListener("click", () => {
      state.offset = Math.max(0, state.offset - PAGE_SIZE);
      loadUnits(0).catch((e) => complain(e.message));
    });
    $("next-page").addEventListener("click", () => {
      state.offset += PAGE_SIZE;
      loadUnits(0).catch((e) => complain(e.message));
    });
    $("select-all").addEventListener("change", (event) => {
      for (const unit of state.units) toggleSelected(unit.unit_id, event.target.checked);
    });
    $("bulk-action").addEventListener("change", renderBulkPanel);
    $("select-matching").addEventListener("click", selectMatching);
    $("bulk-form").addEventListener("submit", applyBulk);
    try {
      const [session, tasks] = await Promise.all([api("GET", "/api/session"), api("GET", "/api/tasks")]);
      state.session = session;
      await loadTasks(tasks);
      loadQualificationNames();
      document.body.dataset.ready = "true";
    } catch (error) {
      complain(error.message);
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
