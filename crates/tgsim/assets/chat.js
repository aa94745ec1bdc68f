// tgsim's chat page: act as a Telegram user, see everything the bot sends to that chat.
"use strict";
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
$("token").value = params.get("token") || document.body.dataset.token || "";
if (params.get("user")) $("user").value = params.get("user");

let shown = "";

function user() {
  const option = $("user").selectedOptions[0];
  return { id: option.value, name: option.dataset.name };
}

function base() {
  return `sim/bots/${encodeURIComponent($("token").value.trim())}`;
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) console.warn(path, response.status, await response.text());
}

function render(messages) {
  const log = $("log");
  const fingerprint = JSON.stringify(messages);
  if (fingerprint === shown) return;
  shown = fingerprint;
  log.replaceChildren();
  if (messages.length === 0) {
    const empty = document.createElement("p");
    empty.id = "empty";
    empty.textContent = "No messages yet. Say /start.";
    log.append(empty);
  }
  for (const message of messages) {
    const bubble = document.createElement("div");
    const fromBot = message.from && message.from.is_bot;
    bubble.className = `msg ${fromBot ? "bot" : "user"}`;
    bubble.dataset.messageId = message.message_id;
    bubble.append(document.createTextNode(message.text || ""));
    const rows = message.reply_markup && message.reply_markup.inline_keyboard;
    if (fromBot && Array.isArray(rows)) {
      const keyboard = document.createElement("div");
      keyboard.className = "keyboard";
      for (const row of rows) {
        const line = document.createElement("div");
        line.className = "row";
        for (const button of row) {
          const element = document.createElement("button");
          element.type = "button";
          element.textContent = button.text;
          if (button.web_app && button.web_app.url) {
            element.dataset.webApp = button.web_app.url;
            element.addEventListener("click", () => openApp(button.web_app.url, button.text));
          } else {
            element.addEventListener("click", () =>
              post(`${base()}/users/${user().id}/callbacks`, { message_id: message.message_id, data: button.callback_data || "" }).then(refresh));
          }
          line.append(element);
        }
        keyboard.append(line);
      }
      bubble.append(keyboard);
    }
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = new Date(message.date * 1000).toLocaleTimeString() + (message.edit_date ? " (edited)" : "");
    bubble.append(meta);
    log.append(bubble);
  }
  window.scrollTo(0, document.body.scrollHeight);
}

async function refresh() {
  if (!$("token").value.trim()) return;
  try {
    const response = await fetch(`${base()}/chats/${user().id}/messages`);
    const body = await response.json();
    if (body.ok) render(body.result);
    const menu = await (await fetch(`${base()}/chats/${user().id}/menu`)).json();
    const button = $("menu-app");
    if (menu.ok && menu.result.type === "web_app") {
      button.textContent = `☰ ${menu.result.text}`;
      button.dataset.url = menu.result.web_app.url;
      button.hidden = false;
    } else {
      button.hidden = true;
    }
  } catch (error) {
    console.warn("refresh failed", error);
  }
}

// Mini Apps: Telegram's themes, light and dark (colours with enough contrast for text).
const THEMES = {
  light: { bg_color: "#ffffff", text_color: "#111111", hint_color: "#5f6368", link_color: "#1c6bbf",
    button_color: "#1c6bbf", button_text_color: "#ffffff", secondary_bg_color: "#f1f3f4" },
  dark: { bg_color: "#1c1c1d", text_color: "#f5f5f5", hint_color: "#aaaaaa", link_color: "#7fb2ff",
    button_color: "#7fb2ff", button_text_color: "#0b0b0c", secondary_bg_color: "#2a2a2c" },
};

async function openApp(url, title) {
  const response = await fetch(`${base()}/users/${user().id}/webapp`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ first_name: user().name }),
  });
  const body = await response.json();
  const theme = THEMES[$("theme").value] || THEMES.light;
  const target = new URL(url, location.href);
  target.hash = new URLSearchParams({
    tgWebAppData: body.result.init_data,
    tgWebAppVersion: "8.0",
    tgWebAppPlatform: "tgsim",
    tgWebAppThemeParams: JSON.stringify(theme),
  }).toString();
  $("app-title").textContent = title || "Mini App";
  $("app-main").hidden = true;
  $("app-back").hidden = true;
  $("app-frame").src = target.toString();
  $("app").hidden = false;
}

function closeApp() {
  $("app").hidden = true;
  $("app-frame").src = "about:blank";
  refresh();
}

function toApp(message) {
  $("app-frame").contentWindow.postMessage(JSON.stringify(message), "*");
}

window.addEventListener("message", (event) => {
  if (event.source !== $("app-frame").contentWindow) return;
  let message;
  try { message = JSON.parse(event.data); } catch { return; }
  if (message.tgsim === "main_button") {
    const main = $("app-main");
    main.textContent = message.text;
    main.hidden = !message.visible;
    main.disabled = !message.active;
    if (message.progress) main.dataset.progress = "1"; else delete main.dataset.progress;
  }
  if (message.tgsim === "back_button") $("app-back").hidden = !message.visible;
  if (message.tgsim === "close") closeApp();
});
$("app-main").addEventListener("click", () => toApp({ tgsim: "main_button_pressed" }));
$("app-back").addEventListener("click", () => toApp({ tgsim: "back_button_pressed" }));
$("app-close").addEventListener("click", closeApp);
$("menu-app").addEventListener("click", () => openApp($("menu-app").dataset.url, $("menu-app").textContent.replace(/^☰ /, "")));
$("theme").addEventListener("change", () => {
  if (!$("app").hidden) toApp({ tgsim: "theme", theme: THEMES[$("theme").value] });
});

$("send").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  $("text").value = "";
  await post(`${base()}/users/${user().id}/messages`, { text, first_name: user().name });
  refresh();
});
$("user").addEventListener("change", () => { shown = ""; refresh(); });
$("token").addEventListener("change", () => { shown = ""; refresh(); });
setInterval(refresh, 1000);
refresh();
