// Mephisto review: the quality and live panel (review_app/quality_panel.py). Plain JavaScript, no build step.
// Shows the live numbers of runs going on (polled from /api/live) and what the task files' quality rules did
// (/api/rule-actions), each action with an Undo button. Data goes in with textContent only.
"use strict";

(function () {
  const TOKEN_KEY = "mephisto-review-token";
  const LIVE_EVERY_MS = 2000;
  const ACTIONS_EVERY_MS = 10000;
  const last = new Map(); // run id -> {submissions, at}: submissions/s from two polls

  function token() {
    return new URLSearchParams(window.location.search).get("token") || sessionStorage.getItem(TOKEN_KEY);
  }

  async function api(method, path) {
    const response = await fetch(path, { method, headers: { Authorization: `Bearer ${token()}` } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `${method} ${path} answered ${response.status}`);
    return body;
  }

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    return node;
  }

  function panel(id, title, columns) {
    const section = el("section", null, { id, class: "panel", "aria-label": title, hidden: "" });
    section.append(el("h3", title), el("p", "", { class: "muted", "data-role": "note" }));
    const table = el("table");
    const head = el("tr");
    for (const column of columns) head.append(el("th", column, { scope: "col" }));
    table.append(el("thead"), el("tbody"));
    table.tHead.append(head);
    section.append(table);
    return section;
  }

  function row(cells) {
    const tr = el("tr");
    for (const cell of cells) {
      const td = el("td");
      if (cell instanceof Node) td.append(cell);
      else td.textContent = cell === null || cell === undefined ? "" : String(cell);
      tr.append(td);
    }
    return tr;
  }

  const live = panel("live-panel", "Runs going on", ["Task", "Run", "Units", "Submissions/s", "Ack (mean)", "Connected", "Refused", "Provider errors"]);
  const rules = panel("rule-actions-panel", "Quality rule actions", ["When", "Task", "Worker", "Rule", "Action", "Score", "Platform", ""]);

  function units(counts) {
    return Object.entries(counts || {}).filter(([, n]) => n).map(([status, n]) => `${n} ${status}`).join(", ");
  }

  async function pollLive() {
    let body;
    try {
      body = await api("GET", "/api/live");
    } catch (error) {
      live.querySelector("[data-role=note]").textContent = error.message;
      return;
    }
    const tbody = live.querySelector("tbody");
    tbody.replaceChildren();
    const now = performance.now();
    for (const run of body.runs) {
      if (run.error) {
        tbody.append(row([run.task, run.run_id, run.error, "", "", "", "", ""]));
        continue;
      }
      const before = last.get(run.run_id);
      const rate = before ? (run.submissions - before.submissions) / ((now - before.at) / 1000) : null;
      last.set(run.run_id, { submissions: run.submissions, at: now });
      const ack = run.ack_count ? `${((run.ack_seconds_sum / run.ack_count) * 1000).toFixed(1)} ms` : "";
      const refused = Object.values(run.refusals || {}).reduce((a, b) => a + b, 0);
      tbody.append(row([run.task, run.run_id, units(run.units), rate === null ? "…" : rate.toFixed(1), ack, run.connected_workers, refused, run.provider_errors]));
    }
    live.hidden = body.runs.length === 0;
  }

  async function undo(id, button) {
    button.disabled = true;
    const note = rules.querySelector("[data-role=note]");
    try {
      const body = await api("POST", `/api/rule-actions/${id}/undo`);
      note.textContent = body.message;
      show(body.actions);
    } catch (error) {
      note.textContent = error.message;
      button.disabled = false;
    }
  }

  function show(actions) {
    const tbody = rules.querySelector("tbody");
    tbody.replaceChildren();
    for (const action of actions) {
      let last = action.undone ? `undone ${action.undone}` : null;
      if (!last) {
        last = el("button", "Undo", { type: "button", "data-action-id": String(action.id), title: action.detail });
        last.addEventListener("click", () => undo(action.id, last));
      }
      const what = action.qualification && !action.action.startsWith("block") ? `${action.action} ${action.qualification}` : action.action;
      tbody.append(row([action.at, action.task, action.worker, action.rule, what, `${Math.round(action.score * 100)}% of ${action.counted}`, action.platform, last]));
    }
    rules.hidden = actions.length === 0;
  }

  async function pollActions() {
    try {
      show((await api("GET", "/api/rule-actions")).actions);
    } catch (error) {
      rules.querySelector("[data-role=note]").textContent = error.message;
    }
  }

  function start() {
    // Full width above the units and the open unit: these tables are wider than the units column.
    const holder = el("div", null, { class: "quality-panels" });
    holder.append(live, rules);
    const main = document.querySelector("main");
    if (main) main.before(holder);
    else document.body.append(holder);
    pollLive();
    pollActions();
    setInterval(pollLive, LIVE_EVERY_MS);
    setInterval(pollActions, ACTIONS_EVERY_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
