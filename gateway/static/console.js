/* Rightsline console: live updates without a reload (same origin, no framework, no inline
   script). The pages work without it. The page's <body data-live="..."> names the JSON state
   URL to poll; when its signature changes, the page is fetched again and its
   [data-live-part] sections are swapped in (the actions are left alone while a reply is
   being written). The tab title carries the number of open requests; an optional sound
   (off by default, remembered in localStorage) is made with WebAudio. */
(function () {
  "use strict";
  var body = document.body;
  var stateUrl = body && body.getAttribute("data-live");
  if (!stateUrl) { return; }
  var POLL_MS = 5000;
  var SOUND_KEY = "rightsline.console.sound";
  var baseTitle = document.title.replace(/^\(\d+\)\s*/, "");
  var lastSignature = null;
  var lastOpen = null;
  var lastDanger = null;
  var audioContext = null;

  function soundOn() {
    try { return window.localStorage.getItem(SOUND_KEY) === "on"; } catch (e) { return false; }
  }

  function addSoundToggle() {
    var header = document.querySelector("header");
    if (!header) { return; }
    var label = document.createElement("label");
    label.className = "sound";
    var box = document.createElement("input");
    box.type = "checkbox";
    box.id = "console-sound";
    box.checked = soundOn();
    box.addEventListener("change", function () {
      try { window.localStorage.setItem(SOUND_KEY, box.checked ? "on" : "off"); } catch (e) { /* private mode */ }
      if (box.checked) { beep(); }
    });
    label.appendChild(box);
    label.appendChild(document.createTextNode(" Sound / Ljud"));
    var who = header.querySelector(".who");
    header.insertBefore(label, who || null);
  }

  function beep() {
    if (!soundOn()) { return; }
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) { return; }
      audioContext = audioContext || new Ctx();
      var osc = audioContext.createOscillator();
      var gain = audioContext.createGain();
      osc.type = "sine";
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, audioContext.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.2, audioContext.currentTime + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, audioContext.currentTime + 0.4);
      osc.connect(gain);
      gain.connect(audioContext.destination);
      osc.start();
      osc.stop(audioContext.currentTime + 0.45);
    } catch (e) { /* no sound is fine */ }
  }

  function setTitle(open) {
    if (typeof open === "number") { document.title = "(" + open + ") " + baseTitle; }
  }

  function writingReply() {
    var box = document.querySelector("#actions textarea");
    if (!box) { return false; }
    return box.value.trim() !== "" || document.activeElement === box ||
      (document.activeElement && document.querySelector("#actions").contains(document.activeElement));
  }

  function refreshParts() {
    return fetch(window.location.pathname + window.location.search,
                 { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) { throw new Error("page " + r.status); } return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var parts = doc.querySelectorAll("[data-live-part]");
        for (var i = 0; i < parts.length; i++) {
          var fresh = parts[i];
          if (!fresh.id) { continue; }
          var old = document.getElementById(fresh.id);
          if (!old) { continue; }
          if (fresh.id === "actions" && writingReply()) { continue; }
          old.replaceWith(document.importNode(fresh, true));
        }
        body.setAttribute("data-refreshed", String(Date.now()));
      });
  }

  function showStopped(text) {
    if (document.getElementById("live-stopped")) { return; }
    var p = document.createElement("p");
    p.id = "live-stopped";
    p.className = "notice";
    p.setAttribute("role", "status");
    p.textContent = text;
    var main = document.querySelector("main");
    if (main) { main.insertBefore(p, main.firstChild); }
  }

  function poll() {
    fetch(stateUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) {
          showStopped("Signed out: live updates stopped. Sign in again. / Utloggad: logga in igen.");
          return null;
        }
        if (!r.ok) { throw new Error("state " + r.status); }
        return r.json();
      })
      .then(function (state) {
        if (!state) { return; }  // stop polling
        setTitle(state.open);
        var more = lastOpen !== null && (state.open > lastOpen || state.danger > lastDanger);
        var changed = lastSignature !== null && state.signature !== lastSignature;
        lastOpen = state.open;
        lastDanger = state.danger;
        lastSignature = state.signature;
        if (more) { beep(); }
        var next = changed ? refreshParts() : Promise.resolve();
        return next.catch(function () { /* try again next time */ }).then(schedule);
      })
      .catch(function () { schedule(); });
  }

  function schedule() {
    window.setTimeout(poll, document.hidden ? POLL_MS * 3 : POLL_MS);
  }

  addSoundToggle();
  poll();
}());
