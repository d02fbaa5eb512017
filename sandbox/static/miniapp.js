// The Mini App panel: hosts a bot's web page in an iframe and speaks Telegram Web's iframe
// protocol with it (JSON strings {eventType, eventData} through postMessage, both ways).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const els = {
    panel: $("miniapp"),
    title: $("miniapp-title"),
    header: $("miniapp-header"),
    back: $("miniapp-back"),
    theme: $("miniapp-theme"),
    close: $("miniapp-close"),
    holder: $("miniapp-frame-holder"),
    mainButton: $("miniapp-main-button"),
    status: $("miniapp-status"),
  };
  const COLOR = /^#[0-9a-f]{6}$/i;

  let current = null; // {frame, origin, launch, hooks, theme, needsConfirmation, ready}

  function post(eventType, eventData) {
    if (!current || !current.frame.contentWindow) {
      return;
    }
    // Only to the Mini App's own origin: nothing reaches a page the frame navigated away to.
    current.frame.contentWindow.postMessage(JSON.stringify({ eventType, eventData }), current.origin);
  }

  function viewport() {
    const height = current ? current.frame.clientHeight : 0;
    return { height, is_expanded: true, is_state_stable: true };
  }

  function setBackButton(visible) {
    els.back.hidden = !visible;
  }

  function setMainButton(params) {
    const visible = Boolean(params && params.is_visible && typeof params.text === "string" && params.text.trim());
    els.mainButton.hidden = !visible;
    if (!visible) {
      return;
    }
    els.mainButton.textContent = params.text;
    els.mainButton.disabled = params.is_active === false || Boolean(params.is_progress_visible);
    els.mainButton.style.background = COLOR.test(params.color || "") ? params.color : "";
    els.mainButton.style.color = COLOR.test(params.text_color || "") ? params.text_color : "";
  }

  function setHeaderColor(data) {
    const theme = current ? current.launch.theme_params : {};
    let color = "";
    if (data && COLOR.test(data.color || "")) {
      color = data.color;
    } else if (data && (data.color_key === "bg_color" || data.color_key === "secondary_bg_color")) {
      color = theme[data.color_key] || "";
    }
    els.header.style.background = color;
  }

  function openLink(data) {
    const url = data && typeof data.url === "string" ? data.url : "";
    if (/^https?:\/\//i.test(url)) {
      window.open(url, "_blank", "noopener,noreferrer");
    }
  }

  async function sendData(data) {
    // Telegram delivers sendData only for keyboard-button launches, once, then closes the app.
    if (!current || !current.launch.can_send_data || current.sent || !data || typeof data.data !== "string") {
      return;
    }
    current.sent = true;
    const hooks = current.hooks;
    close(true);
    await hooks.onSendData(data.data);
  }

  const HANDLERS = {
    iframe_ready: () => post("theme_changed", { theme_params: current.launch.theme_params }),
    web_app_ready: () => {
      current.ready = true;
      els.status.textContent = "";
    },
    web_app_expand: () => post("viewport_changed", viewport()),
    web_app_request_viewport: () => post("viewport_changed", viewport()),
    web_app_request_theme: () => post("theme_changed", { theme_params: current.launch.theme_params }),
    web_app_close: () => close(true),
    web_app_setup_back_button: (data) => setBackButton(Boolean(data && data.is_visible)),
    web_app_setup_main_button: (data) => setMainButton(data),
    web_app_setup_closing_behavior: (data) => {
      current.needsConfirmation = Boolean(data && data.need_confirmation);
    },
    web_app_set_header_color: (data) => setHeaderColor(data),
    web_app_open_link: (data) => openLink(data),
    web_app_data_send: (data) => sendData(data),
  };

  function receive(event) {
    // Only the Mini App's frame, from the origin it was opened at, may talk to the host.
    if (!current || event.source !== current.frame.contentWindow || event.origin !== current.origin) {
      return;
    }
    if (typeof event.data !== "string" || event.data.length > 65536) {
      return;
    }
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    if (!message || typeof message.eventType !== "string") {
      return;
    }
    const handler = HANDLERS[message.eventType];
    if (handler) {
      handler(message.eventData || {});
    }
  }

  function open(launch, hooks) {
    close(true);
    const target = new URL(launch.url);
    if (target.origin === location.origin) {
      // Same origin plus allow-scripts and allow-same-origin would let the page escape its sandbox.
      hooks.onError("A Mini App cannot be served from the sandbox's own address.");
      return;
    }
    const frame = document.createElement("iframe");
    frame.id = "miniapp-frame";
    frame.title = hooks.title || "Mini App";
    frame.setAttribute("sandbox", "allow-scripts allow-same-origin allow-forms");
    frame.setAttribute("allow", "");
    frame.referrerPolicy = "no-referrer";
    frame.src = launch.url;
    current = { frame, origin: target.origin, launch, hooks, needsConfirmation: false, ready: false, sent: false };
    els.title.textContent = hooks.title || "Mini App";
    els.theme.textContent = launch.theme === "dark" ? "Light theme" : "Dark theme";
    els.status.textContent = "Loading…";
    setBackButton(false);
    setMainButton(null);
    setHeaderColor(null);
    els.holder.replaceChildren(frame);
    els.panel.hidden = false;
    els.close.focus();
  }

  // closedByApp: web_app_close or sendData; otherwise the person closes it and may be asked first.
  function close(closedByApp) {
    if (!current) {
      return;
    }
    if (!closedByApp && current.needsConfirmation && !window.confirm("Close the Mini App? Changes may be lost.")) {
      return;
    }
    const hooks = current.hooks;
    const frame = current.frame;
    current = null;
    // Dropping the frame ends the page: whatever it held in memory goes with it.
    frame.src = "about:blank";
    els.holder.replaceChildren();
    els.panel.hidden = true;
    setBackButton(false);
    setMainButton(null);
    if (hooks.onClose) {
      hooks.onClose();
    }
  }

  async function toggleTheme() {
    if (!current) {
      return;
    }
    const next = current.launch.theme === "dark" ? "light" : "dark";
    const themes = await current.hooks.themes();
    if (!current || !themes[next]) {
      return;
    }
    current.launch.theme = next;
    current.launch.theme_params = themes[next];
    els.theme.textContent = next === "dark" ? "Light theme" : "Dark theme";
    post("theme_changed", { theme_params: themes[next] });
  }

  window.addEventListener("message", receive);
  window.addEventListener("resize", () => post("viewport_changed", viewport()));
  els.back.addEventListener("click", () => post("back_button_pressed", {}));
  els.mainButton.addEventListener("click", () => post("main_button_pressed", {}));
  els.close.addEventListener("click", () => close(false));
  els.theme.addEventListener("click", toggleTheme);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && current) {
      // Like a phone's back gesture: the page's back button if it shows one, else close.
      if (!els.back.hidden) {
        post("back_button_pressed", {});
      } else {
        close(false);
      }
    }
  });

  window.SandboxMiniApp = { open, close: () => close(false), isOpen: () => current !== null };
})();
