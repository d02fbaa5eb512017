/* The sealed form: the same declarative questions as the chat, answered and sealed on the phone.
 *
 * Answers live in this script's memory only (no storage of any kind) and are dropped when the
 * request is sent, on the panic wipe and when the page goes away. What leaves the phone: the
 * sealed request (docs/envelope.md), the alert-safe choices in clear (docs/threat-model.md), and
 * Telegram's initData with each call. All text is set with textContent: nothing the server or a
 * person sends is ever parsed as HTML.
 */
(function (root) {
  "use strict";

  var doc = root.document;
  var bridge = root.WaystationBridge;
  var W = root.WaystationSeal;
  var sodium = null;
  var form = null;       // the form and texts from /form/api/form
  var state = null;      // {answers: {qid: {option, text}}, step, editing}
  var history = [];      // screens to go back to
  var current = null;    // the screen being shown (a function that draws it)
  var lookup = null;     // what a reference found: {token, case_id, queue, signer, recipients, ...}

  var main = doc.getElementById("screen");
  var status = doc.getElementById("status");

  // -- small helpers -------------------------------------------------------------------------

  function t(key, values) {
    var text = (form && form.texts[key]) || key;
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(values[name]); });
    return text;
  }

  function el(tag, attrs, children) {
    var node = doc.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else if (name === "onclick") node.addEventListener("click", attrs[name]);
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function button(label, onclick, kind, id) {
    var attrs = { type: "button", text: label, onclick: onclick, "class": kind || "secondary" };
    if (id) attrs.id = id;
    return el("button", attrs);
  }

  function paragraphs(text, cls) {
    return text.split("\n\n").map(function (part) { return el("p", { text: part, "class": cls || "" }); });
  }

  function say(text) { status.textContent = text || ""; }

  function show(draw, remember) {
    if (remember && current) history.push(current);
    current = draw;
    while (main.firstChild) main.removeChild(main.firstChild);
    say("");
    draw();
    bridge.backButton(history.length > 0);
    var heading = main.querySelector("h1, h2");
    if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
  }

  function back() {
    if (!history.length) return;
    current = null;
    show(history.pop(), false);
  }

  function forget() {
    // Drop every answer, reference and reply this page holds.
    state = null;
    lookup = null;
    history = [];
    bridge.closingConfirmation(false);
  }

  function utf8(text) { return new TextEncoder().encode(text); }
  function b64(bytes) { return sodium.to_base64(bytes, sodium.base64_variants.ORIGINAL); }
  function unb64(text) { return sodium.from_base64(text, sodium.base64_variants.ORIGINAL); }

  function clean(text) {
    // As the chat form's clean_text: control characters out (line breaks kept), ends trimmed.
    return text.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, "").trim();
  }

  function call(name, body) {
    body.init_data = bridge.initData;
    body.language = form.language;
    return root.fetch("api/" + name, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer"
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data && data.error ? data.error : "failed");
        return data;
      });
    });
  }

  function failure(err) {
    var code = err && err.message;
    var key = code === "expired" ? "expired" : code === "slow_down" ? "slow_down" : "failed";
    show(function () {
      main.appendChild(el("h1", { text: t("title") }));
      paragraphs(t(key)).forEach(function (p) { main.appendChild(p); });
      main.appendChild(button(t("close"), closeNow, "primary"));
    }, false);
    history = [];
    bridge.backButton(false);
  }

  function closeNow() { forget(); bridge.close(); }

  // -- the questions -------------------------------------------------------------------------

  function question(index) {
    return function () {
      var q = form.questions[index];
      state.step = index;
      main.appendChild(el("p", { "class": "progress", text: t("progress", { number: index + 1, total: form.questions.length }) }));
      var prompt = el("h1", { id: "prompt", text: q.prompt });
      main.appendChild(prompt);
      var error = el("p", { "class": "error", id: "answer-error", role: "alert" });
      if (q.kind === "choice") {
        var group = el("div", { role: "radiogroup", "aria-labelledby": "prompt", "class": "choices" });
        q.options.forEach(function (option) {
          group.appendChild(button(option.label, function () {
            state.answers[q.id] = { option: option.id, value: option.value, text: option.label };
            next();
          }, chosen(q, option) ? "choice chosen" : "choice"));
        });
        main.appendChild(group);
      } else {
        var box = el("textarea", { id: "answer", "aria-labelledby": "prompt", "aria-describedby": "answer-error",
                                   maxlength: String(q.max_length), rows: q.max_length > 200 ? "6" : "3" });
        var given = state.answers[q.id];
        box.value = given ? given.text : "";
        main.appendChild(box);
        main.appendChild(error);
        main.appendChild(button(t("next"), function () {
          var text = clean(box.value);
          if (box.value.length > q.max_length) { error.textContent = t("too_long", { limit: q.max_length }); return; }
          if (!text) { error.textContent = t("empty"); box.focus(); return; }
          state.answers[q.id] = { option: null, value: text, text: text };
          next();
        }, "primary", "next"));
      }
      if (q.optional) {
        main.appendChild(button(t("skip"), function () {
          state.answers[q.id] = { option: null, value: "", text: "" };
          next();
        }, "secondary", "skip"));
      }
      bridge.closingConfirmation(true);
    };
  }

  function chosen(q, option) {
    var given = state.answers[q.id];
    return Boolean(given && given.option === option.id);
  }

  function next() {
    if (!state.editing && state.step + 1 < form.questions.length) {
      show(question(state.step + 1), true);
    } else {
      state.editing = false;
      history = [];
      show(review, false);
    }
  }

  function review() {
    main.appendChild(el("h1", { text: t("review") }));
    var list = el("ol", { "class": "review" });
    form.questions.forEach(function (q, index) {
      var given = state.answers[q.id];
      var item = el("li", {}, [
        el("p", { "class": "prompt", text: q.prompt }),
        el("p", { "class": "answer", text: given && given.text ? given.text : t("skipped") }),
        button(t("change", { question: index + 1 }), function () {
          state.editing = true;
          show(question(index), true);
        }, "link")
      ]);
      list.appendChild(item);
    });
    main.appendChild(list);
    main.appendChild(button(t("send"), send, "primary", "send"));
    main.appendChild(button(t("cancel"), closeNow, "secondary", "cancel"));
  }

  // -- routing, as intake/routing.py does it over the public rules -----------------------------

  function route(rules, fallback, language, country, help) {
    var fold = function (s) { return (s || "").trim().toLowerCase(); };
    for (var i = 0; i < rules.length; i++) {
      var rule = rules[i];
      if (rule.languages.length && rule.languages.indexOf(fold(language)) < 0) continue;
      if (rule.countries.length && rule.countries.indexOf(fold(country)) < 0) continue;
      if (rule.help.length && rule.help.indexOf(fold(help)) < 0) continue;
      return rule.queue;
    }
    return fallback;
  }

  // -- sending -------------------------------------------------------------------------------

  function working() {
    show(function () {
      main.appendChild(el("h1", { text: t("title") }));
      main.appendChild(el("p", { "class": "working", text: t("working") }));
    }, false);
    say(t("working"));
    bridge.backButton(false);
  }

  function send() {
    var answers = {}, alert = {}, choices = {};
    form.questions.forEach(function (q) {
      var given = state.answers[q.id];
      answers[q.id] = given ? given.value : "";
      if (given && given.option) {
        choices[q.id] = given.option;
        if (q.alert_safe) alert[q.id] = given.option;
      }
    });
    var begun = state.begun || Promise.reject(new Error("expired"));
    working();
    begun.catch(function () { return call("begin", {}); }).then(function (begun) {
      var queue = route(begun.routing, begun.default_queue, begun.language, answers.country, choices.help);
      if (!begun.queues[queue]) queue = begun.default_queue;
      var replyKey = begun.reply_key;
      if (!replyKey) {
        // The public reply key, derived here from the reference and the case id (docs/envelope.md,
        // "Reply keys"): the same Argon2id the page runs again to open a reply.
        var pair = W.deriveReplyKey(sodium, W.normaliseReference(begun.reference), begun.case_id);
        sodium.memzero(pair.privateKey);
        replyKey = b64(pair.publicKey);
      }
      var payload = JSON.stringify({
        v: 1, answers: answers, language: begun.language, channel: begun.channel,
        submitted_hour: begun.submitted_hour, reply_handle: begun.reply_handle, reply_tag: begun.reply_tag,
        reply_key: replyKey
      });
      var body = W.sealBody(sodium, utf8(payload), W.KIND.REQUEST, begun.case_id, queue,
                            begun.queues[queue].map(function (r) { return unb64(r.key); }), unb64(begun.signer));
      payload = null;
      return call("submit", { case_id: begun.case_id, queue: queue, envelope: b64(body), alert: alert });
    }).then(function (done) {
      forget();
      show(function () {
        main.appendChild(el("h1", { text: t("title") }));
        var parts = t("submitted", { reference: done.reference }).split("\n\n");
        parts.forEach(function (part) {
          if (part.indexOf(done.reference) >= 0) {
            var lines = part.split("\n");
            main.appendChild(el("p", { "class": "reference", id: "reference", text: lines[0] }));
            lines.slice(1).forEach(function (line) { main.appendChild(el("p", { text: line })); });
          } else {
            main.appendChild(el("p", { text: part }));
          }
        });
        main.appendChild(button(t("close"), closeNow, "primary", "close"));
      }, false);
    }).catch(failure);
  }

  // -- a reference: replies and a follow-up ------------------------------------------------

  function askReference() {
    main.appendChild(el("h1", { id: "ref-heading", text: t("ask_reference") }));
    var input = el("input", { id: "reference-input", type: "text", inputmode: "numeric", autocomplete: "off",
                              maxlength: "64", "aria-labelledby": "ref-heading" });
    main.appendChild(el("label", { "for": "reference-input", "class": "visually-hidden", text: t("reference_label") }));
    main.appendChild(input);
    main.appendChild(button(t("next"), function () {
      var typed = input.value;
      input.value = "";
      working();
      call("lookup", { reference: typed }).then(function (found) {
        lookup = found;
        var replies = [];
        if (found.replies.length) {
          // The reply key is derived here, on the phone: the server never holds it (docs/envelope.md).
          var digits = W.normaliseReference(typed) || "0000000000000000";
          var pair = W.deriveReplyKey(sodium, digits, found.case_id);
          var read = [], rejected = [];
          found.replies.forEach(function (reply) {
            try {
              var opened = JSON.parse(new TextDecoder().decode(W.openEnvelope(
                sodium, unb64(reply.envelope), pair, found.reply_signers.map(unb64), found.case_id, found.queue,
                [W.KIND.REPLY])));
              if (!opened || opened.v !== 1 || typeof opened.text !== "string" || !opened.text.trim()) {
                throw new W.EnvelopeRejected("reply payload");
              }
              replies.push(opened.text);
              read.push(reply.id);
            } catch (err) {
              rejected.push(reply.id);
            }
          });
          sodium.memzero(pair.privateKey);
          return call("read", { token: found.token, read: read, rejected: rejected }).then(function () { return replies; });
        }
        return replies;
      }).then(function (replies) {
        typed = null;
        show(function () { repliesScreen(replies); }, false);
      }).catch(failure);
    }, "primary", "lookup"));
    bridge.closingConfirmation(true);
  }

  function repliesScreen(replies) {
    main.appendChild(el("h1", { text: replies.length ? t("reply_heading") : t("no_replies") }));
    replies.forEach(function (text) {
      main.appendChild(el("blockquote", { "class": "reply" }, paragraphs(text)));
    });
    var box = el("textarea", { id: "follow-up", rows: "5", maxlength: "1000", "aria-labelledby": "follow-up-label" });
    main.appendChild(el("p", { id: "follow-up-label", text: t("ask_follow_up") }));
    main.appendChild(box);
    var error = el("p", { "class": "error", role: "alert" });
    main.appendChild(error);
    main.appendChild(button(t("send"), function () {
      var text = clean(box.value);
      if (!text) { error.textContent = t("empty"); return; }
      box.value = "";
      var found = lookup;
      var payload = JSON.stringify({ v: 1, text: text, language: form.language });
      var body = W.sealBody(sodium, utf8(payload), W.KIND.FOLLOW_UP, found.case_id, found.queue,
                            found.recipients.map(function (r) { return unb64(r.key); }), unb64(found.signer));
      working();
      call("followup", { token: found.token, envelope: b64(body) }).then(function () {
        forget();
        show(function () {
          main.appendChild(el("h1", { text: t("title") }));
          main.appendChild(el("p", { id: "follow-up-done", text: t("follow_up_done") }));
          main.appendChild(button(t("close"), closeNow, "primary", "close"));
        }, false);
      }).catch(failure);
    }, "primary", "send-follow-up"));
    main.appendChild(button(t("close"), closeNow, "secondary", "close"));
  }

  // -- the panic wipe ---------------------------------------------------------------------------

  function wipe() {
    forget();
    call("wipe", {}).then(function () {
      show(function () {
        main.appendChild(el("h1", { id: "wiped", text: t("wiped") }));
      }, false);
      root.setTimeout(function () { bridge.close(); }, 1500);
    }).catch(failure);
  }

  // -- start ------------------------------------------------------------------------------------

  function home() {
    main.appendChild(el("h1", { text: t("title") }));
    main.appendChild(el("p", { text: t("intro") }));
    main.appendChild(button(t("start"), function () {
      state = { answers: {}, step: 0, editing: false, begun: null };
      // The case id and reference are set aside now, while the person answers: the slow part of
      // making them (Argon2id on the server) is then off the Send path.
      state.begun = call("begin", {});
      state.begun.catch(function () { /* asked again at Send */ });
      show(question(0), true);
    }, "primary", "start"));
    main.appendChild(button(t("follow_up"), function () { show(askReference, true); }, "secondary", "have-reference"));
  }

  function applyTheme(params) {
    var style = doc.documentElement.style;
    Object.keys(params || {}).forEach(function (key) {
      var value = params[key];
      if (typeof value === "string" && /^#[0-9a-fA-F]{3,8}$/.test(value)) {
        style.setProperty("--tg-theme-" + key.replace(/_/g, "-"), value);
      }
    });
  }

  function start() {
    applyTheme(bridge.themeParams);
    bridge.on("theme_changed", function (data) { applyTheme(data && data.theme_params); });
    bridge.on("back_button_pressed", back);
    var language = new URLSearchParams(root.location.search).get("lang") || "en";
    root.fetch("api/form?lang=" + encodeURIComponent(language), { cache: "no-store", credentials: "omit" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        form = data;
        doc.documentElement.lang = data.language;
        doc.documentElement.dir = data.direction;
        doc.title = t("title");
        doc.getElementById("wipe").textContent = t("delete");
        if (!bridge.inTelegram) {
          show(function () { main.appendChild(el("h1", { id: "not-in-telegram", text: t("not_in_telegram") })); });
          return null;
        }
        doc.getElementById("wipe").hidden = false;
        return root.sodium.ready.then(function () {
          sodium = root.sodium;
          show(home, false);
          bridge.ready();
        });
      }).catch(function () { say("…"); });
    doc.getElementById("wipe").addEventListener("click", wipe);
    root.addEventListener("pagehide", forget);
  }

  start();
})(window);
