/* A small Telegram Mini App bridge: just what the sealed form needs, speaking Telegram's own protocol.
 *
 * Launch data comes in the URL fragment (tgWebAppData, tgWebAppVersion, tgWebAppPlatform,
 * tgWebAppThemeParams). Events go to the client: TelegramWebviewProxy.postEvent (mobile apps),
 * window.external.notify (desktop), or window.parent.postMessage of {eventType, eventData} as
 * JSON (web clients and the sandbox, which frame the page). Events come back through
 * window.Telegram.WebView.receiveEvent or a message from the parent frame.
 *
 * Unlike Telegram's own telegram-web-app.js this keeps nothing in sessionStorage (nothing at all
 * is stored), and it takes the launch data out of the address once read, so it is not left in
 * the page's history entry.
 */
(function (root) {
  "use strict";

  function parseFragment(hash) {
    var params = {};
    var text = (hash || "").replace(/^#/, "");
    if (!text) return params;
    text.split("&").forEach(function (pair) {
      var at = pair.indexOf("=");
      if (at < 0) return;
      try {
        params[decodeURIComponent(pair.slice(0, at))] = decodeURIComponent(pair.slice(at + 1).replace(/\+/g, "%20"));
      } catch (err) {
        /* a malformed pair is ignored, as Telegram's script does */
      }
    });
    return params;
  }

  var launch = parseFragment(root.location ? root.location.hash : "");
  if (root.location && root.location.hash && root.history && root.history.replaceState) {
    try {
      root.history.replaceState(null, "", root.location.pathname + root.location.search);
    } catch (err) { /* a sandboxed frame may refuse; the fragment never reaches a server anyway */ }
  }

  var inFrame = false;
  try { inFrame = root.parent != null && root.parent !== root; } catch (err) { inFrame = true; }

  var handlers = {};

  function receive(eventType, eventData) {
    (handlers[eventType] || []).slice().forEach(function (handler) {
      try { handler(eventData); } catch (err) { /* one handler's failure does not stop the others */ }
    });
  }

  function post(eventType, eventData) {
    var data = eventData === undefined ? "" : eventData;
    if (root.TelegramWebviewProxy && typeof root.TelegramWebviewProxy.postEvent === "function") {
      root.TelegramWebviewProxy.postEvent(eventType, JSON.stringify(data));
    } else if (root.external && typeof root.external.notify === "function") {
      root.external.notify(JSON.stringify({ eventType: eventType, eventData: data }));
    } else if (inFrame) {
      root.parent.postMessage(JSON.stringify({ eventType: eventType, eventData: data }), "*");
    }
  }

  if (inFrame && root.addEventListener) {
    root.addEventListener("message", function (event) {
      if (event.source !== root.parent) return; // only the frame that holds us speaks for Telegram
      var parsed;
      try { parsed = JSON.parse(event.data); } catch (err) { return; }
      if (parsed && typeof parsed.eventType === "string") receive(parsed.eventType, parsed.eventData);
    });
  }
  root.Telegram = root.Telegram || {};
  root.Telegram.WebView = { receiveEvent: receive }; // how the native apps deliver events

  function theme() {
    try { return JSON.parse(launch.tgWebAppThemeParams || "{}") || {}; } catch (err) { return {}; }
  }

  root.WaystationBridge = {
    initData: launch.tgWebAppData || "",
    version: launch.tgWebAppVersion || "",
    platform: launch.tgWebAppPlatform || "",
    themeParams: theme(),
    inTelegram: Boolean(launch.tgWebAppData),
    on: function (eventType, handler) { (handlers[eventType] = handlers[eventType] || []).push(handler); },
    post: post,
    ready: function () { post("web_app_ready"); post("web_app_expand"); },
    close: function () { post("web_app_close"); },
    backButton: function (visible) { post("web_app_setup_back_button", { is_visible: Boolean(visible) }); },
    closingConfirmation: function (needed) {
      post("web_app_setup_closing_behavior", { need_confirmation: Boolean(needed) });
    },
    requestTheme: function () { post("web_app_request_theme"); },
    parseFragment: parseFragment
  };
})(window);
