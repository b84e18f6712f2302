// Minimal web chat: keeps the conversation token only in this page's memory. Everything said
// to the person (bot answers, a coordinator's replies, escalation news) is fetched from
// /api/webchat/conversations/<id>/messages, so later messages arrive without a reload.
(function () {
  "use strict";
  var form = document.getElementById("composer");
  var input = document.getElementById("text");
  var log = document.getElementById("log");
  var conversationId = null;
  var lastId = 0;
  var language = new URLSearchParams(window.location.search).get("lang");
  var POLL_MS = 5000;

  function add(text, who, label) {
    var li = document.createElement("li");
    li.className = who;
    if (label) {
      var span = document.createElement("span");
      span.className = "label";
      span.textContent = label;
      li.appendChild(span);
    }
    li.appendChild(document.createTextNode(text));
    log.appendChild(li);
    li.scrollIntoView();
  }

  function show(m) {
    var label = m.machine_translated ? "Machine translated" : null;
    if (m.response === "coordinator_reply") { label = (label ? label + " · " : "") + "Coordinator"; }
    add(m.text, "bot", label);
  }

  function poll() {
    if (!conversationId) { return Promise.resolve(); }
    return fetch("/api/webchat/conversations/" + conversationId + "/messages?after=" + lastId)
      .then(function (resp) { return resp.ok ? resp.json() : { messages: [] }; })
      .then(function (data) {
        data.messages.forEach(function (m) { lastId = Math.max(lastId, m.id); show(m); });
      })
      .catch(function () { /* a flaky connection: try again at the next tick */ });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    add(text, "user");
    input.value = "";
    var body = { text: text };
    if (conversationId) { body.conversation_id = conversationId; }
    if (language) { body.language = language; language = null; }
    fetch("/api/webchat/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().then(function (data) { return { ok: resp.ok, data: data }; });
    }).then(function (result) {
      var data = result.data;
      if (data.language) { document.documentElement.lang = data.language; }
      if (result.ok && data.conversation_id) {
        conversationId = data.conversation_id;
        return poll();
      }
      if ("conversation_id" in data && data.conversation_id === null) { conversationId = null; lastId = 0; }
      (data.messages || []).forEach(show);
      if (!result.ok && !data.messages) { add("Error. In danger call 112.", "bot"); }
    }).catch(function () {
      add("No connection. In danger call 112.", "bot");
    });
  });

  window.setInterval(poll, POLL_MS);
})();
