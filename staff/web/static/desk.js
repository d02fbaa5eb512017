// The desk's only script: heartbeat and goodbye (the desk ends when the page is gone), live inbox rows,
// keyboard shortcuts. It talks to nothing but this desk's own server.
"use strict";
(function () {
  const body = document.body;
  const token = body.dataset.token;
  const beat = Number(body.dataset.heartbeat || "10") * 1000;
  let active = false;

  function post(path, fields) {
    const data = new URLSearchParams(Object.assign({ token: token }, fields || {}));
    return fetch(path, { method: "POST", body: data, credentials: "same-origin", cache: "no-store" });
  }

  ["keydown", "mousedown", "touchstart", "scroll"].forEach(function (name) {
    window.addEventListener(name, function () { active = true; }, { passive: true });
  });
  function heartbeat() {
    post("/heartbeat", { active: active ? "1" : "0" }).then(function (response) {
      return response.text();
    }).then(function (text) {
      if (text === "locked" && body.dataset.page !== "unlock") { window.location.assign("/unlock"); }
    }).catch(function () { /* the desk has ended */ });
    active = false;
  }
  window.setInterval(heartbeat, beat);
  window.addEventListener("pagehide", function () {
    navigator.sendBeacon("/bye", new URLSearchParams({ token: token }));
  });

  // The inbox: new cases and follow-ups appear without a reload (the desk lists the cases again itself).
  const rows = document.getElementById("rows");
  let selected = -1;
  function caseRows() { return rows ? Array.prototype.slice.call(rows.querySelectorAll("tr[data-case]")) : []; }
  function select(index) {
    const all = caseRows();
    if (!all.length) { return; }
    selected = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (row, i) { row.classList.toggle("selected", i === selected); });
    const link = all[selected].querySelector("a");
    if (link) { link.focus(); }
  }
  function refreshRows(whenComplete) {
    const current = selected >= 0 && caseRows()[selected] ? caseRows()[selected].dataset.case : null;
    fetch("/rows?" + rows.dataset.query, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
      if (response.status === 423) { window.location.assign("/unlock"); return null; }
      if (whenComplete && response.headers.get("X-Desk-Loading") === "0") { whenComplete(); }
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (html === null) { return; }
      const parsed = new DOMParser().parseFromString("<table><tbody>" + html + "</tbody></table>", "text/html");
      const fresh = parsed.querySelector("tbody");
      const focused = document.activeElement && rows.contains(document.activeElement);
      rows.replaceChildren.apply(rows, Array.prototype.slice.call(fresh.childNodes));
      if (current) {
        const again = caseRows().findIndex(function (row) { return row.dataset.case === current; });
        if (again >= 0) {
          selected = again;
          caseRows()[again].classList.add("selected");
          if (focused) { caseRows()[again].querySelector("a").focus(); }
        }
      }
    }).catch(function () { /* the desk has ended */ });
  }
  if (rows) {
    if (rows.dataset.loading === "1") {
      // The first listing is still decrypting: new rows every second, then the whole page once (counts, menus).
      const fast = window.setInterval(function () {
        refreshRows(function () { window.clearInterval(fast); window.location.reload(); });
      }, 1000);
    }
    window.setInterval(function () { refreshRows(null); }, 5000);
  }

  // Import: the handover file goes to the desk as it is (sealed); the desk opens it in memory.
  const importForm = document.getElementById("import-form");
  if (importForm) {
    importForm.addEventListener("submit", function (event) {
      event.preventDefault();
      const file = document.getElementById("import-file").files[0];
      const result = document.getElementById("import-result");
      if (!file) { return; }
      fetch("/import?token=" + encodeURIComponent(token), {
        method: "POST", body: file, credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "application/octet-stream" }
      }).then(function (response) {
        return response.text().then(function (text) { return { ok: response.ok, text: text }; });
      }).then(function (answer) {
        if (answer.ok) {
          const parsed = new DOMParser().parseFromString(answer.text, "text/html");
          const opened = parsed.getElementById("opened");
          result.replaceChildren(opened ? document.importNode(opened, true) : document.createTextNode(""));
        } else {
          const warning = document.createElement("p");
          warning.className = "warning";
          warning.setAttribute("role", "alert");
          warning.textContent = answer.text;
          result.replaceChildren(warning);
        }
      }).catch(function () { /* the desk has ended */ });
    });
  }

  function typing(target) {
    return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].indexOf(target.tagName) >= 0);
  }
  function focus(id) {
    const element = document.getElementById(id);
    if (element) { element.focus(); if (element.select && element.type === "search") { element.select(); } return true; }
    return false;
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (typing(event.target)) { return; }
    let handled = true;
    switch (event.key) {
      case "j": select(selected + 1); break;
      case "k": select(selected - 1); break;
      case "Enter":
        if (rows && selected >= 0) { window.location.assign(caseRows()[selected].querySelector("a").href); } else { handled = false; }
        break;
      case "/": handled = focus("q"); break;
      case "c": { const claim = document.getElementById("claim"); if (claim) { claim.click(); } else { handled = false; } break; }
      case "n": handled = focus("note-text"); break;
      case "r": handled = focus("reply-text"); break;
      case "g": window.location.assign("/"); break;
      case "?": window.location.assign("/help"); break;
      default: handled = false;
    }
    if (handled) { event.preventDefault(); }
  });
  document.documentElement.dataset.js = "ready";  // shortcuts work from here on
})();
