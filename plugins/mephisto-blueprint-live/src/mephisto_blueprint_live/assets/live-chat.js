/* The live chat page: a waiting room, then turn-taking chat with the partners and the task; zero build.
 * Server frames (mephisto.onMessage): waiting, start, history, message, turn, typing, partner_away,
 * partner_back, room_closed, episode_done; during onboarding (initialTaskData.onboarding) onboarding, history, message,
 * turn and onboarding_done, after which a passed worker's page asks for a real unit (mephisto.nextUnit). The page sends {kind: "message", text}, {kind: "typing", typing} and,
 * once it listens, {kind: "sync"} (answered with `waiting` or `history`). */
(function () {
  "use strict";
  const page = mephisto.taskPage;
  const root = document.getElementById("task-root");
  let log, status, input, send, form;
  let me = null;
  let myTurn = false;
  let over = false;
  const seen = new Set();
  const ENDINGS = {
    completed: "The conversation is over. Thank you!",
    partner_left: "The conversation ended early because your partner left. Your work counts: thank you!",
    partner_timed_out: "The conversation ended early because your partner stopped answering. Your work counts: thank you!",
    world_error: "The conversation ended early because of a problem on our side. Your work counts: thank you!",
  };
  const ONBOARDING_PASSED = "You passed the introduction. Taking you to the task\u2026";
  const ONBOARDING_FAILED = "You did not pass the introduction, so this task is not open to you.";
  const ONBOARDING_ERROR = "The introduction stopped because of a problem on our side. Reload the page to try again.";
  let onboarding = false;
  let typingTimer = null;
  let typingSent = false;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function header(data) {
    root.replaceChildren();
    root.removeAttribute("aria-busy");
    root.appendChild(el("h1", "", data.title || "Chat"));
    if (data.description) root.appendChild(el("p", "chat-description", data.description));
  }

  function textOf(data) {
    if (data && typeof data.text === "string") return data.text;
    return JSON.stringify(data);
  }

  function addLine(frame) {
    if (seen.has(frame.seq)) return;
    seen.add(frame.seq);
    const mine = frame.sender && frame.sender === me;
    const line = el("li", "chat-line" + (mine ? " mine" : frame.sender ? "" : " task"));
    line.appendChild(el("span", "chat-who", mine ? "You" : frame.sender || "Task"));
    line.appendChild(el("span", "chat-text", textOf(frame.data)));
    line.dataset.seq = String(frame.seq);
    log.appendChild(line);
    log.scrollTop = log.scrollHeight;
  }

  function setTurn(yours) {
    myTurn = yours && !over;
    input.disabled = !myTurn;
    send.disabled = !myTurn;
    const idle = onboarding ? "Please wait\u2026" : "Waiting for your partner\u2026";
    status.textContent = myTurn ? "Your turn: write your message." : over ? status.textContent : idle;
    if (myTurn) input.focus();
  }

  function sendTyping(typing) {
    if (typing !== typingSent) {
      typingSent = typing;
      mephisto.sendMessage({ kind: "typing", typing: typing });
    }
  }

  function end(text) {
    over = true;
    setTurn(false);
    status.textContent = text;
    form.hidden = true;
  }

  function onFrame(frame) {
    if (!frame || typeof frame !== "object") return;
    switch (frame.kind) {
      case "waiting":
        status.textContent = "Waiting for partners: " + frame.present + " of " + frame.needed + " here.";
        return;
      case "onboarding":
        me = frame.you;
        return;
      case "start":
      case "history":
        me = frame.you;
        if (!onboarding) status.textContent = "You are " + me + ". The conversation has started.";
        (frame.messages || []).forEach(addLine);
        return;
      case "message":
        addLine(frame);
        return;
      case "turn":
        setTurn(frame.yours === true);
        return;
      case "typing":
        if (!myTurn && !over) status.textContent = frame.typing ? frame.sender + " is typing\u2026" : "Waiting for your partner\u2026";
        return;
      case "partner_away":
        status.textContent = frame.sender + " lost the connection; waiting up to " + frame.wait_seconds + " s for them.";
        return;
      case "partner_back":
        status.textContent = frame.sender + " is back.";
        return;
      case "room_closed":
        end(frame.message);
        return;
      case "episode_done":
        end(ENDINGS[frame.outcome] || ENDINGS.world_error);
        return;
      case "onboarding_done":
        if (frame.passed === true) {
          end(ONBOARDING_PASSED);
          // The attempt is graded: a fresh hello (no token) gets a unit now, and with it the waiting room.
          setTimeout(() => mephisto.nextUnit(), 1500);
        } else if (frame.passed === false) {
          end(frame.message ? ONBOARDING_FAILED + " " + frame.message : ONBOARDING_FAILED);
        } else {
          end(ONBOARDING_ERROR);
        }
        return;
      default:
        return;
    }
  }

  function chat(data) {
    onboarding = data.onboarding === true;
    header(data);
    log = el("ol", "");
    log.id = "chat-log";
    log.setAttribute("aria-live", "polite");
    status = el("p", "");
    status.id = "chat-status";
    status.setAttribute("role", "status");
    status.textContent = onboarding ? "A short introduction before the task\u2026" : "Waiting for partners\u2026";
    form = el("form", "");
    form.id = "chat-form";
    input = el("input", "");
    input.id = "chat-input";
    input.name = "text";
    input.autocomplete = "off";
    input.setAttribute("aria-label", "Your message");
    send = el("button", "", "Send");
    send.type = "submit";
    form.append(input, send);
    root.append(log, status, form);
    setTurn(false);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!myTurn || !text) return;
      mephisto.sendMessage({ kind: "message", text: text });
      input.value = "";
      sendTyping(false);
      setTurn(false);
      status.textContent = "Sending\u2026";
    });
    input.addEventListener("input", () => {
      sendTyping(input.value.length > 0);
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => sendTyping(false), 3000);
    });
    mephisto.onMessage(onFrame);
    // Frames pushed before this page listened are not replayed by the library: ask for the state so far.
    mephisto.sendMessage({ kind: "sync" });
    mephisto.onStatus((value) => {
      if (value === "completed") {
        mephisto.alreadySubmitted = true;
        if (mephisto.completion) mephisto.complete();
      }
    });
  }

  page.start(root, {
    preview: (data) => {
      header(data);
      root.appendChild(el("p", "", "Accept the task to be matched with a partner and start chatting."));
    },
    task: chat,
  });
})();
