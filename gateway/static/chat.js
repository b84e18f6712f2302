// Minimal web chat: keeps the conversation token only in this page's memory.
(function () {
  "use strict";
  var form = document.getElementById("composer");
  var input = document.getElementById("text");
  var log = document.getElementById("log");
  var conversationId = null;
  var language = new URLSearchParams(window.location.search).get("lang");

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
      if ("conversation_id" in data) { conversationId = data.conversation_id; }
      if (data.language) { document.documentElement.lang = data.language; }
      (data.messages || []).forEach(function (m) {
        add(m.text, "bot", m.machine_translated ? "Machine translated" : null);
      });
      if (!result.ok && !data.messages) { add("Error. In danger call 112.", "bot"); }
    }).catch(function () {
      add("No connection. In danger call 112.", "bot");
    });
  });
})();
