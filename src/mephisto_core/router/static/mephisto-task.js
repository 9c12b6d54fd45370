/*
 * mephisto-task.js: the worker page's side of the Mephisto worker protocol (docs/protocol.md).
 *
 * Dependency-free ES2017, no build step. Load it with <script src="/mephisto-task.js"></script> and use
 * window.mephisto:
 *
 *   const info = await mephisto.ready;         // {initialTaskData, isPreview, isOnboarding, agentId, ...}
 *   const answer = await mephisto.handleSubmit({answer: "yes"}, {photo: input.files});
 *   mephisto.sendMessage(data); mephisto.onMessage(cb); mephisto.onStatus(cb);
 *   mephisto.connected; mephisto.onConnection(cb);   // the socket is open (true) or lost (false)
 *   mephisto.showMessage("Thank you", "Your work was submitted.");
 *   mephisto.complete();                       // after the submit: go where the platform wants (see below)
 *
 * The socket goes to `ws` next to this script's own URL; set window.MEPHISTO_SOCKET_URL before loading
 * the script to point it elsewhere (a development server).
 *
 * The socket reconnects by itself and the page's agent token lives in sessionStorage, so a dropped
 * network or a reload returns the worker to the same unit; a submit is resent with the same key until
 * the operator confirms it was stored.
 *
 * When the unit is no longer the page's (its time ran out, the page was away too long, it was withdrawn),
 * this library replaces the page with a message saying so and a "Take the next unit" button
 * (mephisto.nextUnit()): the page never goes on with one unit's data and another unit's token. It also
 * counts down the unit's time (mephisto.deadline, a Date.now() value) and shows the message when it runs out.
 *
 * Links from a paid platform carry a completion step (mephisto.completion: {url, method, fields, label}, also on
 * the answer handleSubmit resolves with): once the submission is stored, mephisto.complete() says so and sends
 * the browser back to the platform (a POSTed form, or a GET with the fields in the query). The page helpers
 * below do it by themselves; nothing navigates before the operator confirmed the submission.
 */
(function (global) {
  "use strict";

  const CLIENT_VERSION = "mephisto-task.js/1";
  // The router writes its limits over these markers when it serves this file; served some other way,
  // the protocol's defaults apply.
  const MAX_UPLOAD_BYTES = Number("__MEPHISTO_MAX_UPLOAD_BYTES__") || 50 * 1024 * 1024;
  const MAX_MESSAGE_BYTES = Number("__MEPHISTO_MAX_MESSAGE_BYTES__") || 1024 * 1024;

  const HEARTBEAT_INTERVAL_MS = 5000;
  const MAX_UNANSWERED_HEARTBEATS = 3;
  // Closing with this code tells the router the page is coming back (its answers may still be wanted).
  const CLOSE_RECONNECTING = 4001;
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  // A request sent this long ago without an answer (and fully written out) is sent again; safe because
  // uploads and submits carry client-made ids that the operator deduplicates.
  const RESEND_AFTER_MS = 30000;
  // Pushed statuses meaning the unit was taken from this page.
  const UNIT_LOST_STATUSES = new Set(["timed_out", "disconnected", "expired", "returned"]);
  const TIME_UP_TITLE = "Your time for this unit is up";
  const TIME_UP_TEXT = "The time for this unit ran out, so it was offered to someone else. Your answer was not stored.";
  const UNIT_LOST_TITLE = "This unit is no longer yours";
  const UNIT_LOST_TEXT = "This unit was given back, so your answer to it cannot be stored.";
  const NEXT_UNIT_LABEL = "Take the next unit";
  const STORED_TITLE = "Your work was stored";
  const STORED_TEXT = "Taking you back to where you came from to finish. If nothing happens, use the button below.";
  const COMPLETE_LABEL = "Continue";

  // The router that served this script is the one to talk to, even when the page came from elsewhere.
  const scriptUrl =
    (global.document && global.document.currentScript && global.document.currentScript.src) ||
    global.location.href;

  function socketUrl() {
    if (typeof global.MEPHISTO_SOCKET_URL === "string") {
      return global.MEPHISTO_SOCKET_URL;
    }
    const url = new URL("ws", scriptUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = "";
    url.hash = "";
    return url.href;
  }

  // ---- small helpers -------------------------------------------------------------------------------

  // A fresh key: the time in milliseconds (12 hex digits), then 16 random bytes (hex). The time first makes the
  // server's unique index of these keys take each new one at its end, not on a page of its own.
  function freshKey() {
    const bytes = new Uint8Array(16);
    global.crypto.getRandomValues(bytes);
    const time = Date.now().toString(16).padStart(12, "0");
    return time + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function utf8(text) {
    return new TextEncoder().encode(text);
  }

  function pageParams() {
    const params = {};
    new URLSearchParams(global.location.search).forEach((value, key) => {
      params[key] = value;
    });
    return params;
  }

  // One token per page URL: two tabs on two different task links must not share an agent.
  const tokenKey = "mephisto-token:" + global.location.origin + global.location.pathname + global.location.search;
  let memoryToken = null; // used when sessionStorage is unavailable (sandboxed frames, privacy modes)

  function loadToken() {
    try {
      return global.sessionStorage.getItem(tokenKey);
    } catch (err) {
      return memoryToken;
    }
  }

  function saveToken(token) {
    memoryToken = token;
    try {
      global.sessionStorage.setItem(tokenKey, token);
    } catch (err) {
      // Storage refused (quota, sandbox): the in-memory copy still covers reconnects without a reload.
    }
  }

  /** An Error for a protocol `error` answer: `.code`, `.fields` (field name -> message). */
  function protocolError(code, message, fields) {
    const err = new Error(message || code);
    err.name = "MephistoError";
    err.code = code;
    err.fields = fields || {};
    return err;
  }

  function readFile(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(new Uint8Array(reader.result));
      reader.onerror = () => reject(protocolError("file_unreadable", "Could not read " + file.name + "."));
      reader.readAsArrayBuffer(file);
    });
  }

  /** A binary upload frame: 4-byte big-endian header length, UTF-8 JSON header, the file's bytes. */
  function uploadFrame(header, bytes) {
    const headerBytes = utf8(JSON.stringify(header));
    const frame = new Uint8Array(4 + headerBytes.length + bytes.length);
    new DataView(frame.buffer).setUint32(0, headerBytes.length, false);
    frame.set(headerBytes, 4);
    frame.set(bytes, 4 + headerBytes.length);
    return frame;
  }

  function isFileList(value) {
    return value && typeof value.length === "number" && typeof value.item === "function";
  }

  /** [{field, file}] from {field: File | File[] | FileList}. */
  function collectFiles(files) {
    const items = [];
    if (!files) {
      return items;
    }
    Object.keys(files).forEach((field) => {
      const value = files[field];
      let list;
      if (value === null || value === undefined) {
        list = [];
      } else if (value instanceof Blob) {
        list = [value];
      } else if (Array.isArray(value) || isFileList(value)) {
        list = Array.from(value);
      } else {
        throw protocolError("bad_files", "files." + field + " must be a File, a list of Files or a FileList.");
      }
      list.forEach((file) => {
        if (!(file instanceof Blob)) {
          throw protocolError("bad_files", "files." + field + " holds something that is not a File.");
        }
        items.push({ field: field, file: file });
      });
    });
    return items;
  }

  // ---- connection state ----------------------------------------------------------------------------

  const state = {
    socket: null,
    assigned: false, // the current socket's hello was answered with `assigned`
    helloId: null,
    helloSentAt: 0,
    helloAnswered: false,
    helloRetryTimer: null,
    reconnectTimer: null,
    reconnectAttempts: 0,
    heartbeatTimer: null,
    unansweredHeartbeats: 0,
    operatorAway: false,
    finished: false, // refused: the page stops talking
    deadlineTimer: null,
    submitting: false, // a submit is on its way: the deadline waits for its answer
    nextId: 1,
    pending: new Map(), // request id -> {frame, resolve, reject, sentAt}
    liveOutbox: [],
    messageListeners: [],
    statusListeners: [],
    connectionListeners: [],
  };

  let settleReady = null;
  const ready = new Promise((resolve, reject) => {
    settleReady = { resolve: resolve, reject: reject };
  });
  // A refusal often arrives before the page awaits `ready`; without this the browser would report it
  // as an unhandled rejection. Whoever awaits `ready` still gets the rejection.
  ready.catch((err) => {
    if (global.console) {
      global.console.warn("mephisto: " + (err.reason || err.code) + ": " + err.message);
    }
  });

  function nextId() {
    const id = state.nextId;
    state.nextId += 1;
    return id;
  }

  function backoffDelay() {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, state.reconnectAttempts));
    state.reconnectAttempts += 1;
    // Jitter spreads a thousand pages that lost the router at the same moment.
    return base / 2 + (Math.random() * base) / 2;
  }

  function socketOpen() {
    return state.socket !== null && state.socket.readyState === WebSocket.OPEN;
  }

  function sendFrame(frame) {
    if (!socketOpen()) {
      return false;
    }
    state.socket.send(frame);
    return true;
  }

  /** The socket the page's inline line opened for this script (the router adds it just before this script's
   * element in task pages, so the socket opens while the scripts still download), if it is the one this script
   * would open and is still opening or open. */
  function takeEarlySocket(url) {
    const early = global.__mephistoEarlySocket;
    global.__mephistoEarlySocket = undefined;
    if (!early || early.readyState > WebSocket.OPEN) {
      return null;
    }
    if (early.url !== url) {
      early.close();  // opened for another address: not the one this script talks to
      return null;
    }
    return early;
  }

  function connect() {
    if (state.finished) {
      return;
    }
    let socket;
    try {
      const url = socketUrl();
      socket = takeEarlySocket(url) || new WebSocket(url);
    } catch (err) {
      scheduleReconnect();
      return;
    }
    socket.binaryType = "arraybuffer";
    state.socket = socket;
    state.assigned = false;
    state.unansweredHeartbeats = 0;
    socket.onopen = () => {
      if (socket === state.socket) {
        setConnected(true);
        sendHello();
        startHeartbeat();
      }
    };
    socket.onmessage = (event) => {
      if (socket === state.socket) {
        onFrame(event.data);
      }
    };
    socket.onclose = () => {
      if (socket === state.socket) {
        dropSocket();
        scheduleReconnect();
      }
    };
    // An error is always followed by close, which reconnects.
    socket.onerror = () => {};
    if (socket.readyState === WebSocket.OPEN) {
      socket.onopen();  // an early socket that opened before this script ran
    }
  }

  /** Tell onConnection listeners when the socket opens or is lost (they get true / false). */
  function setConnected(connected) {
    if (api.connected !== connected) {
      api.connected = connected;
      state.connectionListeners.slice().forEach((cb) => cb(connected));
    }
  }

  function dropSocket(closeCode) {
    const socket = state.socket;
    state.socket = null;
    setConnected(false);
    state.assigned = false;
    clearTimeout(state.helloRetryTimer);
    state.helloRetryTimer = null;
    clearInterval(state.heartbeatTimer);
    state.heartbeatTimer = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        socket.close(closeCode);
      }
    }
  }

  function scheduleReconnect() {
    if (state.finished || state.reconnectTimer !== null) {
      return;
    }
    state.reconnectTimer = setTimeout(() => {
      state.reconnectTimer = null;
      connect();
    }, backoffDelay());
  }

  function reconnectNow() {
    // Do not wait for a close handshake with a peer that stopped answering.
    dropSocket(CLOSE_RECONNECTING);
    scheduleReconnect();
  }

  function sendHello() {
    state.assigned = false;
    state.helloAnswered = false;
    state.helloId = nextId();
    state.helloSentAt = Date.now();
    sendFrame(
      JSON.stringify({
        type: "hello",
        id: state.helloId,
        params: pageParams(),
        token: loadToken(),
        client_version: CLIENT_VERSION,
      })
    );
  }

  function startHeartbeat() {
    clearInterval(state.heartbeatTimer);
    state.heartbeatTimer = setInterval(() => {
      if (state.unansweredHeartbeats >= MAX_UNANSWERED_HEARTBEATS) {
        reconnectNow();
        return;
      }
      state.unansweredHeartbeats += 1;
      sendFrame(JSON.stringify({ type: "heartbeat", id: nextId() }));
      resendStaleRequests();
    }, HEARTBEAT_INTERVAL_MS);
  }

  function resendStaleRequests() {
    const now = Date.now();
    if (!state.helloAnswered && state.helloRetryTimer === null && now - state.helloSentAt > RESEND_AFTER_MS) {
      sendHello(); // lost on the way (the operator channel changed): ask again
      return;
    }
    if (!state.assigned || !state.socket || state.socket.bufferedAmount > 0) {
      return; // not assigned yet, or still writing out (a large upload): nothing is stale
    }
    state.pending.forEach((entry) => {
      if (entry.sentAt !== null && now - entry.sentAt > RESEND_AFTER_MS) {
        transmit(entry);
      }
    });
  }

  // ---- requests ------------------------------------------------------------------------------------

  function transmit(entry) {
    if (state.assigned && sendFrame(entry.frame)) {
      entry.sentAt = Date.now();
    } else {
      entry.sentAt = null; // sent once the socket is (re)assigned
    }
  }

  function request(id, frame) {
    return new Promise((resolve, reject) => {
      const entry = { frame: frame, resolve: resolve, reject: reject, sentAt: null, retryTimer: null };
      state.pending.set(id, entry);
      transmit(entry);
    });
  }

  function flushPending() {
    state.pending.forEach((entry) => transmit(entry));
    const live = state.liveOutbox;
    state.liveOutbox = [];
    live.forEach((frame) => sendFrame(frame));
  }

  function settle(id, answer) {
    const entry = state.pending.get(id);
    if (entry) {
      state.pending.delete(id);
      clearTimeout(entry.retryTimer);
      entry.resolve(answer);
    }
  }

  function fail(id, err) {
    const entry = state.pending.get(id);
    if (entry) {
      state.pending.delete(id);
      clearTimeout(entry.retryTimer);
      entry.reject(err);
    }
  }

  function finish(err) {
    // A refusal is final for this page: stop reconnecting and tell every waiter why.
    state.finished = true;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    dropSocket();
    settleReady.reject(err);
    Array.from(state.pending.keys()).forEach((id) => fail(id, err));
  }

  // ---- incoming frames -----------------------------------------------------------------------------

  function onFrame(data) {
    if (typeof data !== "string") {
      return; // the router sends pages only text
    }
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (err) {
      return;
    }
    if (!msg || typeof msg !== "object") {
      return;
    }
    switch (msg.type) {
      case "assigned":
      case "expired":
      case "preview":
      case "refused":
        if (msg.id === state.helloId) {
          onHelloAnswer(msg);
        }
        return;
      case "heartbeat_ack":
        state.unansweredHeartbeats = 0;
        onOperatorPresence(msg.operator_connected === true);
        return;
      case "upload_ack":
      case "submitted":
      case "call_result":
        settle(msg.id, msg);
        return;
      case "error":
        onError(msg);
        return;
      case "live":
        state.messageListeners.slice().forEach((cb) => cb(msg.data));
        return;
      case "status":
        state.statusListeners.slice().forEach((cb) => cb(msg.status));
        if (UNIT_LOST_STATUSES.has(msg.status) && !api.alreadySubmitted && !api.isOnboarding) {
          const timedOut = msg.status === "timed_out";
          unitLost(timedOut ? TIME_UP_TITLE : UNIT_LOST_TITLE, timedOut ? TIME_UP_TEXT : UNIT_LOST_TEXT);
        }
        return;
      default:
        return; // a newer router may push types this client does not know
    }
  }

  function onHelloAnswer(msg) {
    state.reconnectAttempts = 0;
    state.helloAnswered = true;
    if (msg.type === "refused") {
      const err = new Error(msg.message || msg.reason);
      err.name = "MephistoRefused";
      err.reason = msg.reason;
      err.code = msg.reason;
      finish(err);
      return;
    }
    if (msg.type === "expired") {
      unitLost(msg.status === "timed_out" ? TIME_UP_TITLE : UNIT_LOST_TITLE, msg.message || UNIT_LOST_TEXT);
      return;
    }
    if (msg.type === "assigned" && api.agentId !== null && !sameAttempt(msg)) {
      // The page shows another attempt's data: never let it answer for this one.
      unitLost(UNIT_LOST_TITLE, UNIT_LOST_TEXT);
      return;
    }
    api.initialTaskData = msg.init_data === undefined ? null : msg.init_data;
    if (msg.type === "preview") {
      api.isPreview = true;
    } else {
      saveToken(msg.token);
      api.isPreview = false;
      api.agentId = msg.agent_id;
      api.unitId = msg.unit_id;
      api.isOnboarding = msg.is_onboarding === true;
      api.alreadySubmitted = msg.submitted === true;
      api.completion = completionOf(msg);
      state.assigned = true;
      startDeadline(msg.seconds_left);
    }
    settleReady.resolve({
      initialTaskData: api.initialTaskData,
      isPreview: api.isPreview,
      isOnboarding: api.isOnboarding,
      agentId: api.agentId,
      unitId: api.unitId,
      alreadySubmitted: api.alreadySubmitted,
      completion: api.completion,
    });
    if (state.assigned) {
      flushPending();
    }
  }

  /** The completion step an `assigned` or `submitted` answer carries, or null (never for onboarding). */
  function completionOf(msg) {
    const c = msg.completion;
    if (msg.is_onboarding === true || !c || typeof c.url !== "string") {
      return null;
    }
    return {
      url: c.url,
      method: c.method === "POST" ? "POST" : "GET",
      fields: c.fields && typeof c.fields === "object" ? c.fields : {},
      label: typeof c.label === "string" && c.label ? c.label : null,
    };
  }

  /** Navigate to the completion step: a form POSTed with `fields` as hidden inputs, or a GET with them in the
   *  query. */
  function goToCompletion(completion) {
    const fields = completion.fields;
    if (completion.method === "POST") {
      const form = document.createElement("form");
      form.method = "POST";
      form.action = new URL(completion.url, global.location.href).href;
      form.style.display = "none";
      Object.keys(fields).forEach((name) => {
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        input.value = String(fields[name]);
        form.appendChild(input);
      });
      document.body.appendChild(form);
      form.submit();
      return;
    }
    const url = new URL(completion.url, global.location.href);
    Object.keys(fields).forEach((name) => url.searchParams.set(name, String(fields[name])));
    global.location.assign(url.href);
  }

  /** After the submission was stored: say so and go to the completion step (`completion`, default this page's).
   *  Returns false, doing nothing, when there is no completion step or nothing was submitted yet. */
  function complete(completion) {
    const target = completion || api.completion;
    if (!target || !api.alreadySubmitted || api.isOnboarding) {
      return false;
    }
    // The page is leaving: no reconnects, no deadline.
    state.finished = true;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    clearTimeout(state.deadlineTimer);
    state.deadlineTimer = null;
    dropSocket();
    const go = () => goToCompletion(target);
    showMessage(STORED_TITLE, STORED_TEXT, { label: target.label || COMPLETE_LABEL, run: go });
    if (document.body) {
      go();
    } else {
      document.addEventListener("DOMContentLoaded", go, { once: true });
    }
    return true;
  }

  function sameAttempt(msg) {
    return msg.agent_id === api.agentId && (msg.is_onboarding === true) === api.isOnboarding;
  }

  function startDeadline(secondsLeft) {
    clearTimeout(state.deadlineTimer);
    state.deadlineTimer = null;
    if (typeof secondsLeft !== "number" || api.alreadySubmitted) {
      api.deadline = null;
      return;
    }
    api.deadline = Date.now() + secondsLeft * 1000;
    const check = () => {
      state.deadlineTimer = null;
      if (api.alreadySubmitted || state.finished) {
        return;
      }
      if (state.submitting) {
        state.deadlineTimer = setTimeout(check, 1000); // the operator's answer to the submit decides
        return;
      }
      unitLost(TIME_UP_TITLE, TIME_UP_TEXT);
    };
    state.deadlineTimer = setTimeout(check, Math.max(0, api.deadline - Date.now()));
  }

  /** The unit is no longer this page's: stop, say so, and offer the next unit. `ready` is left as it is. */
  function unitLost(title, text) {
    if (state.finished) {
      return;
    }
    state.finished = true;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    clearTimeout(state.deadlineTimer);
    state.deadlineTimer = null;
    dropSocket();
    showMessage(title, text, { label: NEXT_UNIT_LABEL, run: nextUnit });
    const err = protocolError("gone", text);
    Array.from(state.pending.keys()).forEach((id) => fail(id, err));
  }

  /** Leave this unit for good and load the page again, which asks for the next unit and draws its data. */
  function nextUnit() {
    memoryToken = null;
    try {
      global.sessionStorage.removeItem(tokenKey);
    } catch (err) {
      // Storage unavailable: the in-memory token was the only copy, and it is gone.
    }
    global.location.reload();
  }

  function retryLater(fn) {
    return setTimeout(fn, backoffDelay());
  }

  function onError(msg) {
    if (msg.id !== undefined && msg.id === state.helloId) {
      if (msg.code === "unavailable") {
        // The operator is away; ask again on this socket after a pause.
        clearTimeout(state.helloRetryTimer);
        state.helloRetryTimer = retryLater(() => {
          state.helloRetryTimer = null;
          if (socketOpen()) {
            sendHello();
          }
        });
      } else {
        finish(protocolError(msg.code, msg.message, msg.fields));
      }
      return;
    }
    const entry = msg.id === undefined ? undefined : state.pending.get(msg.id);
    if (!entry) {
      if (global.console) {
        global.console.warn("mephisto: " + msg.code + ": " + msg.message);
      }
      return;
    }
    if (msg.code === "unavailable") {
      entry.sentAt = null;
      clearTimeout(entry.retryTimer);
      entry.retryTimer = retryLater(() => {
        if (state.pending.get(msg.id) === entry) {
          transmit(entry);
        }
      });
    } else if (msg.code === "not_assigned") {
      // The operator restarted and no longer knows this socket: say hello again, then resend.
      entry.sentAt = null;
      if (state.assigned && socketOpen()) {
        sendHello();
      }
    } else {
      fail(msg.id, protocolError(msg.code, msg.message, msg.fields));
    }
  }

  function onOperatorPresence(connected) {
    if (!connected) {
      state.operatorAway = true;
    } else if (state.operatorAway) {
      // A new operator may not know this socket; hello again reclaims the unit and resends requests.
      state.operatorAway = false;
      if (socketOpen()) {
        sendHello();
      }
    }
  }

  // ---- public API ----------------------------------------------------------------------------------

  async function handleSubmit(data, files) {
    await ready;
    if (api.isPreview) {
      throw protocolError("preview", "This is a preview: accept the task before submitting.");
    }
    const outputs = data === undefined ? {} : data;
    if (outputs === null || typeof outputs !== "object" || Array.isArray(outputs)) {
      throw protocolError("bad_message", "handleSubmit(data) needs an object of outputs.");
    }
    const items = collectFiles(files);
    const tooLarge = {};
    items.forEach((item) => {
      if (item.file.size > MAX_UPLOAD_BYTES) {
        tooLarge[item.field] =
          (item.file.name || "The file") + " is larger than " + Math.floor(MAX_UPLOAD_BYTES / 1048576) + " MB.";
      }
    });
    if (Object.keys(tooLarge).length > 0) {
      throw protocolError("too_large", "A file is too large to upload.", tooLarge);
    }
    const submitKey = freshKey();
    const uploadIds = [];
    // One file at a time keeps memory at one file's size.
    for (const item of items) {
      const uploadId = freshKey();
      const id = nextId();
      const header = {
        type: "upload",
        id: id,
        upload_id: uploadId,
        field: item.field,
        name: item.file.name || "file",
        content_type: item.file.type || "application/octet-stream",
      };
      await request(id, uploadFrame(header, await readFile(item.file)));
      uploadIds.push(uploadId);
    }
    const id = nextId();
    // agent_id names the attempt whose data this page shows: the operator stores the answer on it or nowhere.
    const frame = JSON.stringify({
      type: "submit",
      id: id,
      submit_key: submitKey,
      outputs: outputs,
      uploads: uploadIds,
      agent_id: api.agentId,
    });
    if (utf8(frame).length > MAX_MESSAGE_BYTES) {
      throw protocolError("too_large", "The answers are larger than " + MAX_MESSAGE_BYTES + " bytes.");
    }
    state.submitting = true;
    let answer;
    try {
      answer = await request(id, frame);
    } finally {
      state.submitting = false;
    }
    api.alreadySubmitted = true;
    if (!api.isOnboarding) {
      api.completion = completionOf(answer) || api.completion;
    }
    clearTimeout(state.deadlineTimer);
    state.deadlineTimer = null;
    return answer;
  }

  /** Call the task's Python procedure `name` with `args` (any JSON value); resolves with its answer. Rejects with an
   *  Error whose message a worker can read and whose `.code` is procedure_failed, procedure_timeout, rate_limited,
   *  unknown_procedure, gone, ... (docs/protocol.md). Resent with the same call_key until answered: it runs once. */
  async function call(name, args) {
    await ready;
    if (api.isPreview) {
      throw protocolError("preview", "This is a preview: accept the task before using it.");
    }
    const id = nextId();
    const frame = JSON.stringify({
      type: "call",
      id: id,
      call_key: freshKey(),
      name: String(name),
      args: args === undefined ? null : args,
      agent_id: api.agentId,
    });
    if (utf8(frame).length > MAX_MESSAGE_BYTES) {
      throw protocolError("too_large", "The call's arguments are larger than " + MAX_MESSAGE_BYTES + " bytes.");
    }
    const answer = await request(id, frame);
    return answer.result;
  }

  function sendMessage(data) {
    const frame = JSON.stringify({ type: "live", data: data });
    if (state.assigned && sendFrame(frame)) {
      return;
    }
    state.liveOutbox.push(frame); // delivered once the socket is assigned again
  }

  function subscribe(list, cb) {
    if (typeof cb !== "function") {
      throw new TypeError("expected a function");
    }
    list.push(cb);
    return () => {
      const at = list.indexOf(cb);
      if (at >= 0) {
        list.splice(at, 1);
      }
    };
  }

  /** Replace the page with a title and a sentence (refusals, thank-you pages). Text only, never HTML.
   *  `action` ({label, run}), when given, adds a button that calls `run`. */
  function showMessage(title, text, action) {
    const render = () => {
      const main = document.createElement("main");
      main.className = "mephisto-message";
      main.setAttribute("role", "status");
      main.style.cssText = "max-width:40em;margin:4em auto;padding:0 1em;font-family:sans-serif;line-height:1.5";
      const heading = document.createElement("h1");
      heading.textContent = title;
      const paragraph = document.createElement("p");
      paragraph.textContent = text || "";
      main.appendChild(heading);
      main.appendChild(paragraph);
      if (action && typeof action.run === "function") {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "mephisto-action";
        button.textContent = action.label || "Continue";
        button.addEventListener("click", () => action.run());
        main.appendChild(button);
      }
      while (document.body.firstChild) {
        document.body.removeChild(document.body.firstChild);
      }
      document.body.appendChild(main);
    };
    if (document.body) {
      render();
    } else {
      document.addEventListener("DOMContentLoaded", render, { once: true });
    }
  }

  const api = {
    version: CLIENT_VERSION,
    ready: ready,
    initialTaskData: null,
    isPreview: false,
    isOnboarding: false,
    agentId: null,
    unitId: null,
    alreadySubmitted: false,
    completion: null, // {url, method, fields, label}: where the page goes once its submission is stored
    deadline: null, // Date.now() value at which this unit's time runs out, or null
    connected: false, // the socket to the router is open (onConnection(cb) hears each change)
    handleSubmit: handleSubmit,
    nextUnit: nextUnit,
    complete: complete,
    call: call,
    sendMessage: sendMessage,
    onMessage: (cb) => subscribe(state.messageListeners, cb),
    onStatus: (cb) => subscribe(state.statusListeners, cb),
    onConnection: (cb) => subscribe(state.connectionListeners, cb),
    showMessage: showMessage,
  };
  global.mephisto = api;
  connect();
})(window);

/* ---- mephisto.taskPage: begin ----
 * Helpers for task pages written without a framework (the static and form blueprints' pages use them), so each
 * page keeps only how it draws its task and reads its answer. Text goes in with textContent, never as HTML.
 *
 *   const page = mephisto.taskPage;
 *   page.start(root, { preview: (data) => ..., task: (data) => ... });  // refusals and "already submitted" handled
 *   page.handleFormSubmit(form, { button, status, collect: () => ({outputs, files}), done: () => page.showThanks(root),
 *                                 check, clearErrors, showErrors });
 *   page.showDone(root, title, text, buttonText);  // the button takes the next unit (mephisto.nextUnit())
 *
 * This block is self-contained (it uses window.mephisto only), so a page test that stands in for the protocol
 * part of this file can load it as it is: mephisto_core.testing.task_page_helpers_js() returns it.
 */
(function (global) {
  "use strict";

  const mephisto = global.mephisto;
  // Titles of the refusal page, by the `reason` of a refused hello (docs/protocol.md, error codes).
  const REFUSAL_TITLES = {
    no_units: "No task available right now",
    not_qualified: "This task is not open to you",
    blocked: "This task is not open to you",
    too_many_concurrent: "Finish your other task first",
    max_units_reached: "You have done all the units you may do",
    bad_link: "This link does not work",
    run_over: "This task has ended",
  };
  const DEFAULT_REFUSAL_TITLE = "This task is not available";
  const SEND_FAILED = "Your answer could not be sent. Please try again.";
  const END_TITLE = "You are done";
  const END_TEXT = "This task has closed, so there are no more units here. Thank you for your work: you may close this tab.";
  // How long the socket stays lost on the thanks page before the page asks whether the server is still there.
  const GONE_CHECK_MS = 1500;
  // A small favicon (a pen on a sheet) so the tab is recognisable and the browser stops asking for /favicon.ico.
  const FAVICON =
    "data:image/svg+xml," +
    encodeURIComponent(
      '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect x="2" y="1" width="12" height="14" rx="2" ' +
        'fill="#2456a6"/><path d="M5 5h6M5 8h6M5 11h4" stroke="#fff" stroke-width="1.5"/></svg>'
    );

  /** A new `tag` element with a class and a text (both optional). */
  function element(tag, className, text) {
    const node = global.document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  /** The refusal page's title for a refused hello's `reason`. */
  function refusalTitle(reason) {
    return REFUSAL_TITLES[reason] || DEFAULT_REFUSAL_TITLE;
  }

  /** A status line for a page's submit area, read out by screen readers when it changes. */
  function statusLine() {
    const status = element("p", "task-status");
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    return status;
  }

  /** Give the page a favicon unless it has one. */
  function addFavicon() {
    const doc = global.document;
    if (!doc || !doc.head || doc.querySelector('link[rel~="icon"]')) {
      return;
    }
    const link = doc.createElement("link");
    link.rel = "icon";
    link.href = FAVICON;
    doc.head.appendChild(link);
  }

  /** Whether the server that served this page still answers (a reload would work): true / false. */
  function serverAnswers() {
    if (typeof global.fetch !== "function") {
      return Promise.resolve(true);
    }
    return global
      .fetch(global.location.href, { method: "HEAD", cache: "no-store" })
      .then((response) => response.status < 500, () => false);
  }

  /** The end page: the task is over for this worker. No button and no link: the server may be gone. */
  function showEnd(root) {
    showDone(root, END_TITLE, END_TEXT);
  }

  /** Replace `root`'s content with a title, a sentence and, with `buttonText`, a button to the next unit.
   *  The button first checks that the server still answers; when it does not (the run ended and the server
   *  exited), the end page replaces it, as it does by itself when the connection is lost and the server is gone. */
  function showDone(root, title, text, buttonText) {
    const done = element("div", "task-done");
    done.setAttribute("role", "status");
    const heading = element("h1", "", title);
    done.appendChild(heading);
    if (text) {
      done.appendChild(element("p", "", text));
    }
    if (buttonText) {
      const again = element("button", "task-button", buttonText);
      again.type = "button";
      let stopWatching = null;
      const goneOrNext = (click) => {
        serverAnswers().then((answers) => {
          if (!root.contains(done)) {
            return; // the page moved on meanwhile
          }
          if (answers && click) {
            mephisto.nextUnit();
          } else if (!answers) {
            if (stopWatching) {
              stopWatching();
            }
            showEnd(root);
          }
        });
      };
      again.addEventListener("click", () => goneOrNext(true));
      done.appendChild(again);
      if (typeof mephisto.onConnection === "function") {
        let timer = null;
        stopWatching = mephisto.onConnection((connected) => {
          clearTimeout(timer);
          if (!connected) {
            timer = setTimeout(() => goneOrNext(false), GONE_CHECK_MS);
          }
        });
      }
    }
    root.replaceChildren(done);
    heading.tabIndex = -1; // focus moves to what happened, for keyboard and screen-reader users
    heading.focus();
  }

  /** The page after a submission was stored; with a completion step (a paid platform's link) the page goes
   *  there instead of offering another unit. */
  function showThanks(root) {
    if (mephisto.completion && typeof mephisto.complete === "function" && mephisto.complete()) {
      return;
    }
    showDone(root, "Thank you", "Your answer was submitted.", "Do another unit");
  }

  /** Wait for the unit, then draw the preview (`handlers.preview(data)`) or the task (`handlers.task(data)`),
   *  the thanks when it was already submitted, or the refusal page with its reason's title. */
  function start(root, handlers) {
    mephisto.ready.then(
      () => {
        const data = mephisto.initialTaskData || {};
        if (mephisto.isPreview) {
          handlers.preview(data);
        } else if (mephisto.alreadySubmitted) {
          showThanks(root);
        } else {
          handlers.task(data);
        }
      },
      (err) => mephisto.showMessage(refusalTitle(err && err.reason), (err && err.message) || "Please try again later.")
    );
  }

  /** Send `form`'s answer through mephisto.handleSubmit when it is submitted, once at a time.
   *  `options`: button and status (elements); collect() -> {outputs, files}; done(result) after it was stored;
   *  optional check() -> a message that stops the sending (null to send), clearErrors(), and
   *  showErrors(fields) -> messages of fields it could not place, for the server's per-field refusals. */
  function handleFormSubmit(form, options) {
    let sending = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (sending) {
        return;
      }
      const problem = options.check ? options.check() : null;
      if (problem) {
        options.status.className = "task-status is-error";
        options.status.textContent = problem;
        return;
      }
      sending = true;
      options.button.disabled = true;
      if (options.clearErrors) {
        options.clearErrors();
      }
      options.status.className = "task-status";
      options.status.textContent = "Sending\u2026";
      const stopWatching = watchWhileSending(options.status, new Date());
      try {
        const answer = options.collect();
        const result = await mephisto.handleSubmit(answer.outputs, answer.files);
        stopWatching();
        options.done(result);
      } catch (err) {
        stopWatching();
        const unplaced = (options.showErrors && options.showErrors((err && err.fields) || {})) || [];
        options.status.className = "task-status is-error";
        options.status.textContent = [(err && err.message) || SEND_FAILED].concat(unplaced).join(" ");
        options.button.disabled = false;
        const focused = global.document.activeElement;
        if (!focused || focused === global.document.body || focused === options.button) {
          // The disabled button dropped the focus: put it on what went wrong, not at the top of the page.
          options.status.tabIndex = -1;
          options.status.focus();
        }
      } finally {
        sending = false;
      }
    });
  }

  /** While an answer is on its way, tell the worker when the connection is lost (their answer is kept on the
   *  page since `storedAt` and goes out when it returns), and when it is back. Returns the function that stops. */
  function watchWhileSending(status, storedAt) {
    if (typeof mephisto.onConnection !== "function") {
      return () => {};
    }
    const lost = () => {
      status.className = "task-status is-warning";
      status.textContent =
        "The connection to the server is lost. Your answer is kept on this page (stored at " +
        storedAt.toLocaleTimeString() +
        ") and will be sent when the connection returns. Please keep this tab open.";
    };
    if (mephisto.connected === false) {
      lost();
    }
    return mephisto.onConnection((connected) => {
      if (connected) {
        status.className = "task-status";
        status.textContent = "The connection is back: sending your answer\u2026";
      } else {
        lost();
      }
    });
  }

  addFavicon();

  mephisto.taskPage = {
    element: element,
    showEnd: showEnd,
    refusalTitle: refusalTitle,
    statusLine: statusLine,
    showDone: showDone,
    showThanks: showThanks,
    start: start,
    handleFormSubmit: handleFormSubmit,
  };
})(window);
/* ---- mephisto.taskPage: end ---- */
