/*
 * mephisto-task: the Mephisto worker client as an ES module.
 *
 * It wraps window.mephisto, which /mephisto-task.js creates; the bundle blueprint puts that script first in the
 * task's index.html, so it has run before any module of the bundle. This module holds no state of its own and
 * opens no socket: every function reads or calls window.mephisto.
 *
 *   import { whenReady, handleSubmit, call } from "mephisto-task";
 *   const info = await whenReady();  // {initialTaskData, isPreview, isOnboarding, agentId, unitId, workerId, ...}
 *   const scored = await call("score", { text: "..." });  // a Python procedure of the task
 *   await handleSubmit({ label: "positive" }, { photo: input.files });
 *
 * React: import { useMephistoTask } from "mephisto-task/react".
 */

const MISSING =
  "window.mephisto is missing: the page must load /mephisto-task.js before this module " +
  "(the bundle blueprint adds it to index.html; a page served another way needs " +
  '<script src="/mephisto-task.js"></script> before its own scripts)';

// Query parameters that carry the crowd platform's own worker id, by platform.
const WORKER_PARAMS = ["worker_id", "workerId", "PROLIFIC_PID"];

/** window.mephisto, or an Error saying how to load it. */
export function getClient() {
  const client = globalThis.mephisto;
  if (!client || typeof client.handleSubmit !== "function") {
    throw new Error(MISSING);
  }
  return client;
}

/** The worker id the link carried (?worker_id=, MTurk's workerId, Prolific's PROLIFIC_PID), or null. */
export function getWorkerId() {
  const params = new URLSearchParams(globalThis.location ? globalThis.location.search : "");
  for (const name of WORKER_PARAMS) {
    const value = params.get(name);
    if (value) {
      return value;
    }
  }
  return null;
}

/** What the page knows about its unit right now (all null / false before whenReady() resolves). */
export function getTaskInfo() {
  const client = getClient();
  return {
    initialTaskData: client.initialTaskData,
    isPreview: client.isPreview,
    isOnboarding: client.isOnboarding,
    agentId: client.agentId,
    unitId: client.unitId,
    workerId: getWorkerId(),
    alreadySubmitted: client.alreadySubmitted,
    completion: client.completion,
    deadline: client.deadline,
    connected: client.connected === true,
  };
}

/** Resolves with getTaskInfo() once the router gave this page a unit (or a preview); rejects when it refused
 *  the page, with an Error whose `reason` is the refusal's reason (no_units, blocked, ...). */
export async function whenReady() {
  await getClient().ready;
  return getTaskInfo();
}

/** Send the answer: `outputs` is an object of JSON values; `files` maps a field name to a File, a list of Files
 *  or a FileList (each uploaded before the answer). Resolves with the router's `submitted` answer; rejects with
 *  an Error whose `code` says why and whose `fields` maps a field to the server's message for it. */
export function handleSubmit(outputs, files) {
  return getClient().handleSubmit(outputs, files);
}

/** After a stored submission from a paid platform's link: go back to the platform. False when there is no
 *  completion step (then offer the next unit with nextUnit()). */
export function complete() {
  const client = getClient();
  return typeof client.complete === "function" ? client.complete() === true : false;
}

/** Leave this unit and load the page again for the next one. */
export function nextUnit() {
  getClient().nextUnit();
}

/** Call the task's Python procedure `name` (`[task.procedures]`, docs/procedures.md) with `args`, any JSON value.
 *  Resolves with the procedure's answer; rejects with an Error whose message the worker can read and whose `code`
 *  is procedure_failed, procedure_timeout, rate_limited, unknown_procedure, preview, ... A call that did not reach
 *  the operator is resent until answered and runs once. */
export function call(name, args) {
  return getClient().call(name, args);
}

/** Send a live message to the operator (a task with live messages). */
export function sendMessage(data) {
  getClient().sendMessage(data);
}

/** Call `callback(data)` for each live message; returns a function that stops it. */
export function onMessage(callback) {
  return getClient().onMessage(callback);
}

/** Call `callback(status)` when the router pushes a unit status (timed_out, returned, ...); returns a stop function. */
export function onStatus(callback) {
  return getClient().onStatus(callback);
}

/** Call `callback(connected)` each time the socket to the router opens (true) or is lost (false). */
export function onConnection(callback) {
  const client = getClient();
  return typeof client.onConnection === "function" ? client.onConnection(callback) : () => {};
}

/** Replace the page with a title and a sentence (text only): for errors the task cannot recover from. */
export function showMessage(title, text) {
  getClient().showMessage(title, text);
}

/** A sentence for a refusal's reason, for a page that draws its own refusal screen. */
export function blockedExplanation(reason) {
  const page = getClient().taskPage;
  return page && typeof page.refusalTitle === "function" ? page.refusalTitle(reason) : "This task is not available";
}
