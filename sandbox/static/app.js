// Sandbox messenger page: talks to /sandbox/api/ only; every text is shown with textContent.
"use strict";

(function () {
  const API = "/sandbox/api";
  const SESSION_KEY = "waystation-sandbox-person";
  const POLL_MS = 500;
  const BOTS_POLL_MS = 2000;
  const NOTIFICATION_MS = 5000;

  const $ = (id) => document.getElementById(id);
  const els = {
    botName: $("bot-name"),
    botStatus: $("bot-status"),
    blockButton: $("block-button"),
    leaveButton: $("leave-button"),
    startView: $("start-view"),
    description: $("bot-description"),
    startForm: $("start-form"),
    nameInput: $("name-input"),
    languageInput: $("language-input"),
    startButton: $("start-button"),
    startError: $("start-error"),
    chatView: $("chat-view"),
    messages: $("messages"),
    notice: $("chat-notice"),
    replyKeyboard: $("reply-keyboard"),
    menu: $("menu"),
    menuButton: $("menu-button"),
    compose: $("compose"),
    textInput: $("text-input"),
    toast: $("toast"),
    chatsButton: $("chats-button"),
    startLinkInput: $("start-link-input"),
    listView: $("list-view"),
    chatList: $("chat-list"),
    linkForm: $("link-form"),
    linkInput: $("link-input"),
    linkError: $("link-error"),
    notifications: $("notifications"),
  };

  let person = loadPerson();
  let bot = null;
  let lastVersion = -1;
  let blocked = false;
  let pollTimer = null;
  let pollGeneration = 0;
  let toastTimer = null;
  let menuSignature = "";
  // The chat's menu button (setChatMenuButton): {"type": "commands"} or a web_app to open.
  let menuButtonState = { type: "commands" };
  let themesCache = null;
  let chatListSignature = "";
  const seenAnswers = new Set();

  // ---- HTTP -------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const options = { method, headers: {} };
    if (method !== "GET") {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body || {});
    }
    const response = await fetch(API + path, options);
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, (data && data.error) || "request failed");
    }
    return data;
  }

  // ---- person in this tab -------------------------------------------------

  function loadPerson() {
    try {
      const raw = sessionStorage.getItem(SESSION_KEY);
      return raw ? JSON.parse(raw) : null;
    } catch (_) {
      return null;
    }
  }

  function savePerson(value) {
    person = value;
    if (value) {
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
    } else {
      sessionStorage.removeItem(SESSION_KEY);
    }
  }

  function browserLanguage() {
    const tag = (navigator.language || "en").toLowerCase();
    return tag.split("-")[0];
  }

  // ---- bot info ------------------------------------------------------------

  async function refreshBot() {
    const language = person ? person.language_code : els.languageInput.value || browserLanguage();
    try {
      const data = await api("GET", "/bots?language_code=" + encodeURIComponent(language || ""));
      bot = data.bots.length === 1 ? data.bots[0] : null;
      if (data.bots.length === 0) {
        els.botStatus.textContent = "No bot has connected to this sandbox yet";
      } else if (data.bots.length > 1) {
        els.botStatus.textContent = "Several bots are connected; this page needs exactly one";
      } else {
        // The name a phone shows: setMyName in this person's language, else the account's name.
        els.botName.textContent = bot.name || bot.first_name;
        els.botStatus.textContent = "@" + bot.username + (bot.webhook_url ? " (webhook)" : "");
      }
    } catch (_) {
      bot = null;
      els.botStatus.textContent = "The sandbox is not answering";
    }
    els.description.textContent = bot ? bot.description || bot.short_description || "" : "";
    renderMenu();
  }

  function renderMenu() {
    const commands = bot && person ? bot.commands : [];
    const signature = JSON.stringify([commands, menuButtonState]);
    if (signature === menuSignature) {
      return; // Re-rendering would steal keyboard focus from an open menu.
    }
    menuSignature = signature;
    if (person && menuButtonState.type === "web_app") {
      // A web_app menu button opens the Mini App instead of the commands menu.
      els.menuButton.hidden = false;
      els.menuButton.textContent = menuButtonState.text;
      els.menuButton.removeAttribute("aria-haspopup");
      closeMenu();
      els.menu.replaceChildren();
      return;
    }
    els.menuButton.textContent = "Menu";
    els.menuButton.setAttribute("aria-haspopup", "menu");
    els.menuButton.hidden = commands.length === 0;
    if (commands.length === 0) {
      closeMenu();
    }
    els.menu.replaceChildren(
      ...commands.map((item) => {
        const button = document.createElement("button");
        button.type = "button";
        button.setAttribute("role", "menuitem");
        const command = document.createElement("span");
        command.className = "command";
        command.textContent = "/" + item.command;
        const description = document.createElement("span");
        description.className = "command-description";
        description.dir = "auto";
        description.textContent = item.description;
        button.append(command, description);
        button.addEventListener("click", () => {
          closeMenu();
          sendText("/" + item.command);
        });
        return button;
      })
    );
  }

  function closeMenu() {
    els.menu.hidden = true;
    els.menuButton.setAttribute("aria-expanded", "false");
  }

  // ---- views ---------------------------------------------------------------

  function showStart() {
    stopPolling();
    els.startView.hidden = false;
    els.chatView.hidden = true;
    els.listView.hidden = true;
    els.blockButton.hidden = true;
    els.leaveButton.hidden = true;
    els.chatsButton.hidden = true;
    els.messages.replaceChildren();
    els.chatList.replaceChildren();
    chatListSignature = "";
    lastVersion = -1;
    els.nameInput.focus();
  }

  function showChat() {
    els.startView.hidden = true;
    els.listView.hidden = true;
    els.chatView.hidden = false;
    els.blockButton.hidden = false;
    els.leaveButton.hidden = false;
    els.chatsButton.hidden = false;
    els.textInput.focus();
    startPolling();
  }

  // The phone outside the chat: its chat list, as an officer scrolling through it would see.
  function showList() {
    els.startView.hidden = true;
    els.chatView.hidden = true;
    els.listView.hidden = false;
    els.blockButton.hidden = true;
    els.leaveButton.hidden = false;
    els.chatsButton.hidden = true;
    startPolling();
  }

  // ---- starting a chat -------------------------------------------------------

  async function start(event) {
    event.preventDefault();
    els.startError.textContent = "";
    const firstName = els.nameInput.value.trim();
    const language = els.languageInput.value.trim() || browserLanguage();
    if (!firstName) {
      els.startError.textContent = "Please choose a display name.";
      els.nameInput.focus();
      return;
    }
    els.startButton.disabled = true;
    try {
      await refreshBot();
      if (!bot) {
        els.startError.textContent =
          "No bot is connected. Start your bot with base_url " + location.origin + "/bot first.";
        return;
      }
      const created = await api("POST", "/users", { first_name: firstName, language_code: language });
      savePerson({ user_id: created.user_id, first_name: firstName, language_code: language, notification_seq: 0 });
      renderMenu();
      const link = els.startLinkInput.value.trim();
      if (link) {
        els.startLinkInput.value = "";
        await openLink(link);
      } else {
        showChat();
        // Telegram's Start button sends /start.
        await sendText("/start");
      }
    } catch (error) {
      els.startError.textContent = error.message;
    } finally {
      els.startButton.disabled = false;
    }
  }

  // As t.me/<bot>?start=CODE does: the client opens the chat and sends "/start CODE".
  async function openLink(link) {
    els.linkError.textContent = "";
    try {
      await api("POST", "/users/" + person.user_id + "/links", { link });
      showChat();
      await poll();
    } catch (error) {
      showList();
      els.linkInput.value = link;
      els.linkError.textContent = error.message;
    }
  }

  async function submitLink(event) {
    event.preventDefault();
    const link = els.linkInput.value.trim();
    if (!link) {
      els.linkError.textContent = "Paste a link like https://t.me/<bot>?start=CODE.";
      return;
    }
    els.linkInput.value = "";
    await openLink(link);
  }

  function leave() {
    if (window.SandboxMiniApp.isOpen()) {
      window.SandboxMiniApp.close();
    }
    savePerson(null);
    renderMenu();
    showStart();
  }

  async function toggleBlock() {
    try {
      const result = await api("POST", "/chats/" + person.user_id + (blocked ? "/unblock" : "/block"));
      setBlocked(result.blocked);
    } catch (error) {
      showToast(error.message, false);
    }
  }

  function setBlocked(value) {
    blocked = value;
    els.blockButton.textContent = blocked ? "Unblock bot" : "Block bot";
    els.notice.textContent = blocked ? "You blocked this bot. It cannot write to you." : "";
    els.textInput.disabled = blocked;
  }

  // ---- sending -------------------------------------------------------------

  async function sendText(text) {
    if (!person || !text.trim()) {
      return;
    }
    try {
      await api("POST", "/chats/" + person.user_id + "/messages", { text });
      await poll();
    } catch (error) {
      showToast(error.message, false);
    }
  }

  async function submitCompose(event) {
    event.preventDefault();
    const text = els.textInput.value;
    if (!text.trim()) {
      return;
    }
    els.textInput.value = "";
    autoGrow();
    await sendText(text);
  }

  // ---- Mini Apps -------------------------------------------------------------

  function preferredTheme() {
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  async function themes() {
    if (!themesCache) {
      themesCache = (await api("GET", "/webapp")).themes;
    }
    return themesCache;
  }

  // What a Telegram client does on a tap: asks for a signed launch, then loads the page in a panel.
  async function openWebApp(request) {
    if (!person) {
      return;
    }
    const theme = preferredTheme();
    let launch;
    try {
      launch = await api("POST", "/chats/" + person.user_id + "/webapp", { ...request, theme });
    } catch (error) {
      showToast(error.message, false);
      return;
    }
    launch.theme = theme;
    window.SandboxMiniApp.open(launch, {
      title: els.botName.textContent,
      themes,
      onError: (message) => showToast(message, false),
      onSendData: async (data) => {
        try {
          await api("POST", "/chats/" + person.user_id + "/webapp/" + launch.launch_id + "/data", { data });
          await poll();
        } catch (error) {
          showToast(error.message, false);
        }
      },
      onClose: () => els.textInput.focus(),
    });
  }

  async function pressButton(messageId, data) {
    try {
      await api("POST", "/chats/" + person.user_id + "/callback", { message_id: messageId, data });
    } catch (error) {
      showToast(error.message, false);
    }
  }

  // ---- polling -------------------------------------------------------------

  function startPolling() {
    stopPolling();
    const generation = ++pollGeneration;
    // Only the newest loop goes on: switching views must not leave two loops polling.
    const loop = async () => {
      if (!els.chatView.hidden) {
        await poll();
      }
      await pollPhone();
      if (person && generation === pollGeneration) {
        pollTimer = setTimeout(loop, POLL_MS);
      }
    };
    loop();
  }

  function stopPolling() {
    pollGeneration++;
    if (pollTimer !== null) {
      clearTimeout(pollTimer);
      pollTimer = null;
    }
  }

  async function poll() {
    if (!person) {
      return;
    }
    let chat;
    try {
      chat = await api("GET", "/chats/" + person.user_id + "/messages");
    } catch (error) {
      if (error.status === 404) {
        // The sandbox was reset: this person no longer exists.
        leave();
        els.startError.textContent = "The sandbox was reset. Start again.";
      } else {
        els.notice.textContent = error.message;
      }
      return;
    }
    if (chat.blocked !== blocked || els.notice.textContent) {
      setBlocked(chat.blocked);
    }
    showAnswers(chat.callback_answers);
    // The bot's default menu button can change without touching this chat.
    menuButtonState = chat.menu_button || { type: "commands" };
    renderMenu();
    if (chat.version === lastVersion) {
      return;
    }
    lastVersion = chat.version;
    renderMessages(chat.messages);
    renderReplyKeyboard(chat.reply_keyboard, chat.reply_keyboard_web_apps || {});
  }

  // ---- chat list and notifications -------------------------------------------

  async function pollPhone() {
    if (!person) {
      return;
    }
    let chats;
    let fresh;
    try {
      chats = await api("GET", "/users/" + person.user_id + "/chats");
      fresh = await api("GET", "/users/" + person.user_id + "/notifications?since=" + (person.notification_seq || 0));
    } catch (error) {
      if (error.status === 404) {
        leave();
        els.startError.textContent = "The sandbox was reset. Start again.";
      }
      return;
    }
    renderChatList(chats.chats);
    for (const item of fresh.notifications) {
      showNotification(item);
      person.notification_seq = item.seq;
    }
    if (fresh.notifications.length) {
      savePerson(person);
    }
  }

  function renderChatList(chats) {
    const signature = JSON.stringify(chats);
    if (signature === chatListSignature) {
      return;
    }
    chatListSignature = signature;
    if (chats.length === 0) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "No chats yet.";
      els.chatList.replaceChildren(empty);
      return;
    }
    els.chatList.replaceChildren(
      ...chats.map((chat) => {
        const item = document.createElement("li");
        item.className = "chat-entry";
        item.dataset.botId = String(chat.bot_id);
        const button = document.createElement("button");
        button.type = "button";
        const name = document.createElement("span");
        name.className = "chat-name";
        name.dir = "auto";
        name.textContent = chat.name;
        const preview = document.createElement("span");
        preview.className = "chat-preview";
        preview.dir = "auto";
        preview.textContent = chat.preview;
        button.append(name, preview);
        button.addEventListener("click", showChat);
        item.append(button);
        return item;
      })
    );
  }

  // A lock-screen notification: the bot's name and the first line; protect_content hides neither.
  function showNotification(item) {
    const node = document.createElement("li");
    node.className = "notification";
    const title = document.createElement("strong");
    title.className = "notification-title";
    title.dir = "auto";
    title.textContent = item.title;
    const body = document.createElement("span");
    body.className = "notification-body";
    body.dir = "auto";
    body.textContent = item.body;
    node.append(title, body);
    node.addEventListener("click", () => node.remove());
    els.notifications.append(node);
    setTimeout(() => node.remove(), NOTIFICATION_MS);
  }

  // ---- rendering -------------------------------------------------------------

  function renderMessages(messages) {
    const list = els.messages;
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    const existing = new Map();
    for (const node of list.children) {
      existing.set(node.dataset.messageId, node);
    }
    const wanted = new Set(messages.map((m) => String(m.message_id)));
    for (const [id, node] of existing) {
      if (!wanted.has(id)) {
        node.remove();
        existing.delete(id);
      }
    }
    let previous = null;
    for (const message of messages) {
      const id = String(message.message_id);
      const signature = JSON.stringify([message.text, message.entities, message.reply_markup, message.edit_date]);
      let node = existing.get(id);
      if (!node || node.dataset.signature !== signature) {
        const fresh = renderMessage(message);
        fresh.dataset.signature = signature;
        if (node) {
          node.replaceWith(fresh);
        }
        node = fresh;
      }
      const expectedPlace = previous ? previous.nextSibling : list.firstChild;
      if (node !== expectedPlace) {
        list.insertBefore(node, expectedPlace);
      }
      previous = node;
    }
    if (nearBottom) {
      list.scrollTop = list.scrollHeight;
    }
  }

  function renderMessage(message) {
    const item = document.createElement("li");
    item.className = "msg " + (message.service ? "service" : message.side);
    item.dataset.messageId = String(message.message_id);
    const label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = message.side === "bot" ? "Bot said:" : "You said:";
    // dir="auto" lets Arabic or Farsi text run right-to-left inside its own bubble.
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.dir = "auto";
    const text = document.createElement("p");
    text.className = "text";
    text.append(renderText(message.text, message.entities || []));
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.dir = "ltr";
    meta.textContent = formatTime(message.date) + (message.edited ? " · edited" : "");
    bubble.append(text, meta);
    item.append(label, bubble);
    if (message.reply_markup && Array.isArray(message.reply_markup.inline_keyboard)) {
      item.append(renderInlineKeyboard(message.message_id, message.reply_markup.inline_keyboard));
    }
    return item;
  }

  function renderInlineKeyboard(messageId, rows) {
    const keyboard = document.createElement("div");
    keyboard.className = "keyboard";
    for (const row of rows) {
      const line = document.createElement("div");
      line.className = "keyboard-row";
      for (const button of row) {
        line.append(renderInlineButton(messageId, button));
      }
      keyboard.append(line);
    }
    return keyboard;
  }

  function renderInlineButton(messageId, button) {
    if (typeof button.url === "string" && /^https?:\/\//i.test(button.url)) {
      const link = document.createElement("a");
      link.href = button.url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.dir = "auto";
      link.textContent = button.text + " ↗";
      return link;
    }
    const element = document.createElement("button");
    element.type = "button";
    element.dir = "auto";
    element.textContent = button.text;
    if (button.web_app && typeof button.web_app.url === "string") {
      element.classList.add("web-app");
      element.addEventListener("click", () =>
        openWebApp({ source: "inline", message_id: messageId, url: button.web_app.url })
      );
    } else if (typeof button.callback_data === "string") {
      element.addEventListener("click", () => pressButton(messageId, button.callback_data));
    } else {
      element.disabled = true;
      element.title = "This kind of button is not supported by the sandbox";
    }
    return element;
  }

  function renderReplyKeyboard(rows, webApps) {
    els.replyKeyboard.hidden = !rows || rows.length === 0;
    els.replyKeyboard.replaceChildren(
      ...(rows || []).map((row) => {
        const line = document.createElement("div");
        line.className = "keyboard-row";
        for (const label of row) {
          const button = document.createElement("button");
          button.type = "button";
          button.dir = "auto";
          button.textContent = label;
          if (Object.prototype.hasOwnProperty.call(webApps, label)) {
            button.classList.add("web-app");
            button.addEventListener("click", () => openWebApp({ source: "keyboard", text: label }));
          } else {
            button.addEventListener("click", () => sendText(label));
          }
          line.append(button);
        }
        return line;
      })
    );
  }

  // Entities use UTF-16 offsets, which are exactly JavaScript string indexes.
  function renderText(text, entities) {
    const fragment = document.createDocumentFragment();
    const cuts = new Set([0, text.length]);
    for (const entity of entities) {
      cuts.add(entity.offset);
      cuts.add(entity.offset + entity.length);
    }
    const points = [...cuts].filter((p) => p >= 0 && p <= text.length).sort((a, b) => a - b);
    for (let i = 0; i + 1 < points.length; i++) {
      const start = points[i];
      const end = points[i + 1];
      let node = document.createTextNode(text.slice(start, end));
      for (const entity of entities) {
        if (entity.offset <= start && entity.offset + entity.length >= end) {
          node = wrap(node, entity);
        }
      }
      fragment.append(node);
    }
    return fragment;
  }

  function wrap(node, entity) {
    const tags = { bold: "strong", italic: "em", underline: "u", strikethrough: "s", code: "code", pre: "pre" };
    let element;
    if (tags[entity.type]) {
      element = document.createElement(tags[entity.type]);
    } else if (entity.type === "text_link" && /^https?:\/\//i.test(entity.url || "")) {
      element = document.createElement("a");
      element.href = entity.url;
      element.target = "_blank";
      element.rel = "noopener noreferrer";
    } else if (entity.type === "spoiler") {
      element = document.createElement("span");
      element.className = "spoiler";
      element.tabIndex = 0;
      element.title = "Spoiler: click to show";
      element.addEventListener("click", () => element.classList.add("revealed"));
    } else if (entity.type === "blockquote" || entity.type === "expandable_blockquote") {
      element = document.createElement("span");
      element.className = "quote";
    } else {
      return node;
    }
    element.append(node);
    return element;
  }

  function formatTime(unixSeconds) {
    const date = new Date(unixSeconds * 1000);
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function showAnswers(answers) {
    for (const answer of answers || []) {
      if (seenAnswers.has(answer.callback_query_id)) {
        continue;
      }
      seenAnswers.add(answer.callback_query_id);
      if (answer.text) {
        showToast(answer.text, answer.show_alert);
      }
    }
  }

  function showToast(text, isAlert) {
    els.toast.textContent = text;
    els.toast.dir = "auto";
    els.toast.classList.toggle("alert", Boolean(isAlert));
    els.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      els.toast.hidden = true;
    }, isAlert ? 6000 : 3000);
  }

  function autoGrow() {
    els.textInput.style.height = "auto";
    els.textInput.style.height = Math.min(els.textInput.scrollHeight, 144) + "px";
  }

  // ---- wiring ----------------------------------------------------------------

  els.languageInput.value = browserLanguage();
  els.startForm.addEventListener("submit", start);
  els.compose.addEventListener("submit", submitCompose);
  els.leaveButton.addEventListener("click", leave);
  els.blockButton.addEventListener("click", toggleBlock);
  els.chatsButton.addEventListener("click", showList);
  els.linkForm.addEventListener("submit", submitLink);
  els.toast.addEventListener("click", () => {
    els.toast.hidden = true;
  });
  els.menuButton.addEventListener("click", () => {
    if (menuButtonState.type === "web_app") {
      openWebApp({ source: "menu" });
      return;
    }
    const open = els.menu.hidden;
    els.menu.hidden = !open;
    els.menuButton.setAttribute("aria-expanded", String(open));
  });
  els.textInput.addEventListener("input", autoGrow);
  els.textInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      els.compose.requestSubmit();
    }
  });

  refreshBot();
  setInterval(refreshBot, BOTS_POLL_MS);
  if (person) {
    els.nameInput.value = person.first_name;
    els.languageInput.value = person.language_code || browserLanguage();
    showChat();
  } else {
    showStart();
  }
})();
