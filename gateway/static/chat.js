// Rightsline web chat. ES5 and XMLHttpRequest only (old Android browsers), no framework.
// Without this script the page still works as plain forms; with it the page talks to the
// JSON API and fetches later messages (a coordinator's replies) by itself.
// Leaves no trace: no cookies, no storage; the conversation id lives in this page's memory.
(function () {
  "use strict";
  var doc = document;
  var root = doc.documentElement;
  root.className = root.className.replace(/\bno-js\b/, "") + " js";

  var POLL_MS = 3000;
  var MAX_POLL_MS = 30000;
  var SEND_TIMEOUT_MS = 30000;
  var POLL_TIMEOUT_MS = 15000;

  function byId(id) { return doc.getElementById(id); }
  function on(el, type, fn) { if (el) { el.addEventListener(type, fn, false); } }

  // --- quick exit: the button, or Shift pressed three times within a second -------------
  var exitLink = byId("quick-exit");
  var exitUrl = exitLink ? (exitLink.getAttribute("data-exit-url") || exitLink.href) : "about:blank";
  var leaving = false;

  function quickExit(event) {
    if (event && event.preventDefault) { event.preventDefault(); }
    if (leaving) { return; }
    leaving = true;
    var log = byId("log");
    if (log) { log.innerHTML = ""; }
    var main = doc.getElementsByTagName("main")[0];
    if (main) { main.innerHTML = ""; }
    doc.title = "";
    try { window.sessionStorage.clear(); } catch (ignore2) { /* storage disabled */ }
    window.location.replace(exitUrl);
  }
  on(exitLink, "click", quickExit);

  var shiftAlone = false;
  var shiftTimes = [];
  on(doc, "keydown", function (event) {
    if (event.key === "Shift" || event.keyCode === 16) {
      shiftAlone = true;
    } else {
      shiftAlone = false;  // Shift+letter is typing, not an exit
      shiftTimes = [];
    }
  });
  on(doc, "keyup", function (event) {
    if (!(event.key === "Shift" || event.keyCode === 16)) { return; }
    if (!shiftAlone) { return; }
    shiftAlone = false;
    var now = new Date().getTime();
    shiftTimes.push(now);
    while (shiftTimes.length && now - shiftTimes[0] > 1000) { shiftTimes.shift(); }
    if (shiftTimes.length >= 3) { quickExit(); }
  });

  // Take lang and src out of the address bar (and so out of history); the page keeps them.
  var here = window.location;
  if ((here.search || here.pathname !== "/") && window.history && window.history.replaceState) {
    try { window.history.replaceState(null, "", "/"); } catch (ignore3) { /* old browser */ }
  }

  var form = byId("composer");
  var main = byId("chat");
  if (!form || !main) { return; }  // the language menu: nothing more to do

  var input = byId("text");
  var log = byId("log");
  var statusBox = byId("status");
  var sendButton = byId("send");
  var deleteForm = byId("delete-form");
  var pageLang = form.elements.lang.value;
  var source = form.elements.src.value || null;
  var maxChars = parseInt(input.getAttribute("maxlength"), 10) || 1000;

  var state = {
    conversationId: form.elements.conversation_id.value || null,
    cursor: 0,          // polls ask for messages after this id
    seen: {},           // message ids on the page: nothing shows twice
    sending: false,
    polling: false,
    pollDelay: POLL_MS,
    failures: 0,
    timer: null,
    statusKind: "",
    pending: null,      // the message being sent or not yet confirmed: {id, text, conversationId}
    pendingDelete: null,
    deleting: false,
    deleteDelay: POLL_MS
  };

  function t(name) { return main.getAttribute("data-t-" + name) || ""; }

  // Every message gets an id of its own (128 random bits), sent again with every retry of
  // it: when an answer was lost on the way, the server knows the message and takes it once.
  function newMessageId() {
    var hex = "";
    var c = window.crypto || window.msCrypto;
    if (c && c.getRandomValues) {
      try {
        var bytes = new Uint8Array(16);
        c.getRandomValues(bytes);
        for (var i = 0; i < bytes.length; i++) { hex += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16); }
        return hex;
      } catch (ignore) { hex = ""; }
    }
    for (var j = 0; j < 32; j++) { hex += Math.floor(Math.random() * 16).toString(16); }  // an old browser
    return hex;
  }

  // Messages already on the page (the server rendered them after a plain form post).
  (function () {
    var items = log.getElementsByTagName("li");
    for (var i = 0; i < items.length; i++) {
      var id = parseInt(items[i].getAttribute("data-id"), 10);
      if (id) { state.seen[id] = true; if (id > state.cursor) { state.cursor = id; } }
    }
  }());

  // --- notices --------------------------------------------------------------------------
  function notice(text, kind) {
    state.statusKind = text ? (kind || "info") : "";
    statusBox.className = "notice" + (kind === "error" ? " error" : "");
    statusBox.textContent = text || "";
    if (kind === "error") { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
  }
  function clearNotice(kind) {
    if (!kind || state.statusKind === kind) { notice(""); }
  }

  // --- the conversation on the page -----------------------------------------------------
  function label(kind, response) {
    if (kind === "coordinator") { return { text: t("coordinator"), visible: true }; }
    if (kind === "status" && response === "utter_handoff_acknowledged") { return { text: t("status-joined"), visible: true }; }
    if (kind === "status" && response === "utter_handoff_closed") { return { text: t("status-left"), visible: true }; }
    if (kind === "user") { return { text: t("you"), visible: false }; }
    return { text: t("bot"), visible: false };
  }

  function span(className, text) {
    var el = doc.createElement("span");
    el.className = className;
    el.appendChild(doc.createTextNode(text));
    return el;
  }

  // The same markup as gateway/webchat/page.py render_message.
  function addMessage(m, lang) {
    var kind = m.kind || "bot";
    var li = doc.createElement("li");
    li.className = "msg " + kind;
    li.setAttribute("data-kind", kind);
    if (m.id !== null && m.id !== undefined) { li.setAttribute("data-id", String(m.id)); }
    if (m.response) { li.setAttribute("data-response", m.response); }
    li.setAttribute("data-machine-translated", m.machine_translated ? "true" : "false");
    var who = label(kind, m.response);
    li.appendChild(span(who.visible ? "who" : "who sr", who.text));
    if (m.machine_translated) { li.appendChild(span("mt", t("machine-translated"))); }
    var text = span("text", m.text);
    text.setAttribute("dir", "auto");
    if (lang && kind !== "user") { text.setAttribute("lang", lang); }
    li.appendChild(text);
    log.appendChild(li);
    return li;
  }

  // New messages come into view from their start (a long answer begins with what matters
  // most), unless the person is typing: then the box stays where it is.
  function show(messages, lang) {
    var first = null;
    for (var i = 0; i < messages.length; i++) {
      var m = messages[i];
      if (m.id !== null && m.id !== undefined) {
        if (state.seen[m.id]) { continue; }
        state.seen[m.id] = true;
      }
      var li = addMessage(m, lang);
      if (!first) { first = li; }
    }
    if (first && first.scrollIntoView && doc.activeElement !== input) { first.scrollIntoView(true); }
  }

  function setConversation(id) {
    state.conversationId = id;
    var fields = [form.elements.conversation_id];
    if (deleteForm) { fields.push(deleteForm.elements.conversation_id); }
    for (var i = 0; i < fields.length; i++) { if (fields[i]) { fields[i].value = id || ""; } }
    if (!id && state.timer) { window.clearTimeout(state.timer); state.timer = null; }
  }

  function clearConversation() {
    setConversation(null);
    log.innerHTML = "";
    state.seen = {};
    state.cursor = 0;
    state.failures = 0;
    state.pollDelay = POLL_MS;
    state.pending = null;
    clearNotice("lost");
  }

  // --- talking to the server ------------------------------------------------------------
  // conversationId: sent in the X-Conversation-Id header, never in the URL (proxies log URLs).
  function request(method, url, body, timeout, done, conversationId) {
    var xhr = new XMLHttpRequest();
    var finished = false;
    var guard = null;
    function finish(code) {
      if (finished) { return; }
      finished = true;
      if (guard) { window.clearTimeout(guard); }
      var data = null;
      try { data = JSON.parse(xhr.responseText); } catch (ignore) { data = null; }
      done(code, data);
    }
    xhr.open(method, url, true);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("Accept-Language", pageLang);  // for the 112 text when the server is in trouble
    if (conversationId) { xhr.setRequestHeader("X-Conversation-Id", conversationId); }
    if (body) { xhr.setRequestHeader("Content-Type", "application/json"); }
    xhr.onreadystatechange = function () { if (xhr.readyState === 4) { finish(xhr.status); } };
    guard = window.setTimeout(function () { finish(0); try { xhr.abort(); } catch (ignore) { /* gone */ } }, timeout);
    try {
      xhr.send(body ? JSON.stringify(body) : null);
    } catch (err) {
      finish(0);
    }
  }

  function isHidden() { return doc.hidden || doc.webkitHidden || false; }

  function schedulePoll(ms) {
    if (state.timer) { window.clearTimeout(state.timer); }
    state.timer = state.conversationId ? window.setTimeout(poll, ms) : null;
  }

  function poll() {
    state.timer = null;
    var id = state.conversationId;
    if (!id || isHidden()) { return; }  // visibilitychange starts it again
    if (state.polling) { schedulePoll(state.pollDelay); return; }
    state.polling = true;
    request("GET", "/api/webchat/conversation/messages?after=" + state.cursor,
      null, POLL_TIMEOUT_MS, function (code, data) {
        state.polling = false;
        if (id !== state.conversationId) { return; }  // deleted or restarted meanwhile
        if (code === 200 && data && data.messages) {
          state.failures = 0;
          state.pollDelay = POLL_MS;
          clearNotice("lost");
          var fresh = [];
          for (var i = 0; i < data.messages.length; i++) {
            var m = data.messages[i];
            if (m.id > state.cursor) { state.cursor = m.id; }
            fresh.push(m);
          }
          show(fresh, null);
        } else if (code === 404) {
          setConversation(null);
          notice(t("error-gone"), "error");
          return;
        } else {
          state.failures += 1;
          state.pollDelay = Math.min(state.pollDelay * 2, MAX_POLL_MS);
          if (state.failures >= 2) { notice(t("connection-lost"), "lost"); }
        }
        schedulePoll(state.pollDelay);
      }, id);
  }

  function wake() {
    if (!isHidden()) { state.pollDelay = POLL_MS; schedulePoll(0); retryDelete(); }
  }
  on(doc, "visibilitychange", wake);
  on(doc, "webkitvisibilitychange", wake);
  on(window, "online", wake);

  function sendFailed(li, text, message) {
    if (li && li.parentNode) { li.parentNode.removeChild(li); }
    if (!input.value) { input.value = text; }  // nothing typed is lost
    notice(message, "error");
  }

  // The words a refusal carries (429: too many messages, 403: blocked for a while; both with
  // 112), in the person's language; "" when the body has none.
  function carriedText(data) {
    var list = (data && data.messages) || [];
    var parts = [];
    for (var i = 0; i < list.length; i++) { if (list[i] && list[i].text) { parts.push(list[i].text); } }
    return parts.join(" ");
  }

  on(form, "submit", function (event) {
    event.preventDefault();
    if (state.sending) { return; }
    var text = input.value.replace(/^\s+|\s+$/g, "");
    if (!text) { notice(t("error-empty"), "error"); input.focus(); return; }
    if (text.length > maxChars) { notice(t("error-too-long"), "error"); input.focus(); return; }
    clearNotice();
    // The same text again after a failed send is that message again: the same id.
    var pending = state.pending;
    if (!pending || pending.text !== text || pending.conversationId !== state.conversationId) {
      pending = { id: newMessageId(), text: text, conversationId: state.conversationId };
      state.pending = pending;
    }
    var body = { text: text, client_message_id: pending.id };
    if (state.conversationId) {
      body.conversation_id = state.conversationId;
    } else {
      body.language = pageLang;
      if (source) { body.source = source; }
    }
    var mine = addMessage({ kind: "user", text: text }, null);
    mine.className += " pending";
    input.value = "";
    state.sending = true;
    sendButton.setAttribute("aria-disabled", "true");
    request("POST", "/api/webchat/messages", body, SEND_TIMEOUT_MS, function (code, data) {
      state.sending = false;
      sendButton.removeAttribute("aria-disabled");
      mine.className = mine.className.replace(/\s*pending\b/, "");
      if (state.pending === pending && ((code === 200 && data) || code === 404 || code === 409)) {
        // Answered (a duplicate too: shown like any answer), or the id cannot be used again.
        // After anything else the message may or may not have arrived: a retry keeps its id.
        state.pending = null;
      }
      if (code === 200 && data) {
        if (data.conversation_id === null) {  // the person wrote the delete keyword
          clearConversation();
          show(data.messages || [], data.language);
          notice(t("deleted"), "info");
          return;
        }
        setConversation(data.conversation_id);
        show(data.messages || [], data.language);
        state.pollDelay = POLL_MS;
        schedulePoll(POLL_MS);
        return;
      }
      if (code === 404 && state.conversationId) {
        setConversation(null);
        sendFailed(mine, text, t("error-gone"));
        return;
      }
      if ((code === 429 || code === 403) && carriedText(data)) {
        // Not sent: say why in the server's words (not the generic line); the text stays in
        // the box to send once the wait is over.
        sendFailed(mine, text, carriedText(data));
        return;
      }
      sendFailed(mine, text, t("not-sent"));
      if (code === 503 && data && data.messages) {
        // The database is down: its answer says the message was not kept and gives 112
        // (the emergency text first for words of danger): show it, not just the notice.
        show(data.messages, data.language);
      }
    });
  });

  // Delete: the page is cleared at once; the server copy is erased as soon as it answers.
  function retryDelete() {
    var id = state.pendingDelete;
    if (!id || state.deleting) { return; }
    state.deleting = true;
    request("DELETE", "/api/webchat/conversation", null, SEND_TIMEOUT_MS,
      function (code, data) {
        state.deleting = false;
        if (state.pendingDelete !== id) { return; }
        if (code === 200 || code === 404) {
          state.pendingDelete = null;
          state.deleteDelay = POLL_MS;
          clearNotice("lost");
          if (data && data.messages && !state.conversationId) { show(data.messages, data.language); }
          notice(t("deleted"), "info");
          return;
        }
        notice(t("connection-lost"), "lost");
        state.deleteDelay = Math.min(state.deleteDelay * 2, MAX_POLL_MS);
        window.setTimeout(retryDelete, state.deleteDelay);
      }, id);
  }

  on(deleteForm, "submit", function (event) {
    event.preventDefault();
    var id = state.conversationId;
    clearConversation();
    input.value = "";
    if (!id) { notice(t("deleted"), "info"); return; }
    state.pendingDelete = id;
    retryDelete();
  });

  if (state.conversationId) { schedulePoll(POLL_MS); }
}());
