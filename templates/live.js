// The live page of `orc serve`: keeps the dashboard in step with the branch
// and sends the forms to the HTTP API. Served from the server's own origin
// (the page's content policy allows no other script).
//
// - Updates: server-sent events from /api/stream (one `tip` event per
//   branch move; the browser resumes with Last-Event-ID); when they fail,
//   a poll of /api/status every 2 s with If-None-Match.
// - Writes carry the server's token in its HttpOnly cookie, which opening
//   the address `orc serve` printed (/?token=…) set; this script never
//   sees the token.
(function () {
  "use strict";
  function state(text) {
    var el = document.getElementById("live-state");
    if (el) el.textContent = text;
  }

  var refreshing = false, again = false;
  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch("/", { cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["header", "main"].forEach(function (tag) {
          var now = document.querySelector(tag), next = doc.querySelector(tag);
          if (now && next) now.innerHTML = next.innerHTML;
        });
        var sel = document.querySelector("#form-add select"), nextSel = doc.querySelector("#form-add select");
        if (sel && nextSel) {
          var chosen = sel.value;
          sel.innerHTML = nextSel.innerHTML;
          if (chosen) sel.value = chosen;
        }
        state(source ? "live" : "live (polling)");
      })
      .catch(function (e) { state("update failed: " + e.message); })
      .then(function () {
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
  }

  var source = null, etag = null, pollTimer = null;
  function poll() {
    fetch("/api/status", { headers: etag ? { "If-None-Match": etag } : {}, cache: "no-store" })
      .then(function (r) {
        var tag = r.headers.get("ETag");
        if (r.status === 200 && tag && tag !== etag) {
          if (etag) refresh();
          etag = tag;
        }
      })
      .catch(function () {})
      .then(function () { pollTimer = setTimeout(poll, 2000); });
  }
  function startPolling() {
    if (pollTimer === null) { state("live (polling)"); poll(); }
  }
  function connect() {
    if (!window.EventSource) { startPolling(); return; }
    source = new EventSource("/api/stream");
    var first = true;
    source.addEventListener("tip", function () {
      if (first) { first = false; state("live"); return; }
      refresh();
    });
    source.onopen = function () { state("live"); };
    source.onerror = function () {
      // The browser retries on its own; after a close it does not.
      if (source.readyState === EventSource.CLOSED) { source = null; startPolling(); }
      else state("reconnecting…");
    };
  }

  function say(text, bad) {
    var out = document.getElementById("act-out");
    out.textContent = text;
    out.className = bad ? "failed" : "done";
  }
  function send(method, path, body) {
    return fetch(path, {
      method: method,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (r) {
      return r.json().then(function (json) {
        if (!r.ok) {
          var e = json.error || {};
          if (r.status === 401) throw new Error("not signed in: open the address orc serve printed (it ends in ?token=…)");
          throw new Error((e.message || "HTTP " + r.status) + (e.hint ? " (" + e.hint + ")" : ""));
        }
        return json;
      });
    });
  }
  function agentBody(extra) {
    var agent = document.getElementById("act-agent").value.trim();
    var body = extra || {};
    if (agent) body.agent = agent;
    return body;
  }
  var actions = {
    add: function (f) {
      var ws = encodeURIComponent(f.workstream.value);
      return send("POST", "/api/workstreams/" + ws + "/tasks",
        { title: f.title.value, priority: Number(f.priority.value) || 3 })
        .then(function (t) { f.title.value = ""; return "added " + t.id; });
    },
    claim: function (f) {
      return send("POST", "/api/tasks/" + encodeURIComponent(f.id.value.trim()) + "/claim", agentBody())
        .then(function (t) { return "claimed " + t.id + " as " + t.claimed_by; });
    },
    complete: function (f) {
      var body = agentBody(f.result.value ? { result: f.result.value } : {});
      return send("POST", "/api/tasks/" + encodeURIComponent(f.id.value.trim()) + "/complete", body)
        .then(function (t) { return "completed " + t.id; });
    },
    knowledge: function (f) {
      var topic = f.topic.value.trim().split("/").map(encodeURIComponent).join("/");
      return send("PUT", "/api/knowledge/" + topic, agentBody({ content: f.content.value }))
        .then(function (t) { return "wrote " + t.topic + " (" + t.size + " bytes)"; });
    },
    release: function (f) {
      return send("POST", "/api/tasks/" + encodeURIComponent(f.id.value.trim()) + "/release", agentBody())
        .then(function (t) { return "released " + t.id; });
    },
  };
  document.addEventListener("submit", function (ev) {
    var form = ev.target, act = actions[form.getAttribute("data-action")];
    ev.preventDefault();
    if (!act) return;
    act(form).then(function (text) { say(text, false); refresh(); }, function (e) { say(e.message, true); });
  });

  connect();
})();
