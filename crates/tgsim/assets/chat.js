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
          element.addEventListener("click", () =>
            post(`${base()}/users/${user().id}/callbacks`, { message_id: message.message_id, data: button.callback_data || "" }).then(refresh));
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
  } catch (error) {
    console.warn("refresh failed", error);
  }
}

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
