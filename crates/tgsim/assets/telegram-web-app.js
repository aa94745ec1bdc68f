// tgsim's telegram-web-app.js: the part of Telegram's Mini App API that apps use, for pages
// the tgsim chat page opens in its panel. initData and the theme come from the URL's hash, as
// Telegram passes them; the Main and Back buttons and close() talk to the chat page with
// postMessage, which draws them and sends their presses back.
"use strict";
(() => {
  const hash = new URLSearchParams(location.hash.slice(1));
  // Storage may be denied to a third-party iframe, as in Telegram Web: then the hash alone.
  let stored = {};
  try { stored = JSON.parse(sessionStorage.getItem("__tgsim_params") || "{}"); } catch { stored = {}; }
  const initData = hash.get("tgWebAppData") || stored.initData || "";
  const themeRaw = hash.get("tgWebAppThemeParams") || stored.theme || "{}";
  try { sessionStorage.setItem("__tgsim_params", JSON.stringify({ initData, theme: themeRaw })); } catch { /* none */ }
  const handlers = {};
  const emit = (event, ...args) => (handlers[event] || []).slice().forEach((f) => { try { f(...args); } catch (e) { console.error(e); } });
  const post = (type, data) => {
    if (window.parent !== window) window.parent.postMessage(JSON.stringify({ tgsim: type, ...data }), "*");
  };
  const parse = (raw) => {
    const out = {};
    for (const [k, v] of new URLSearchParams(raw)) {
      try { out[k] = k === "user" || k === "receiver" || k === "chat" ? JSON.parse(v) : v; } catch { out[k] = v; }
    }
    if (out.auth_date) out.auth_date = Number(out.auth_date);
    return out;
  };
  let themeParams = {};
  try { themeParams = JSON.parse(themeRaw); } catch { themeParams = {}; }
  const luminance = (hex) => {
    const m = /^#?([0-9a-f]{6})$/i.exec(hex || "");
    if (!m) return 1;
    const n = parseInt(m[1], 16);
    return (0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255)) / 255;
  };

  function bottomButton(kind, clickEvent) {
    const button = {
      text: kind === "main_button" ? "Continue" : "",
      color: themeParams.button_color || "#2481cc",
      textColor: themeParams.button_text_color || "#ffffff",
      isVisible: false, isActive: true, isProgressVisible: false,
    };
    const sync = () => post(kind, { text: button.text, visible: button.isVisible, active: button.isActive, progress: button.isProgressVisible });
    Object.assign(button, {
      setText(text) { button.text = String(text); sync(); return button; },
      show() { button.isVisible = true; sync(); return button; },
      hide() { button.isVisible = false; sync(); return button; },
      enable() { button.isActive = true; sync(); return button; },
      disable() { button.isActive = false; sync(); return button; },
      showProgress() { button.isProgressVisible = true; sync(); return button; },
      hideProgress() { button.isProgressVisible = false; sync(); return button; },
      setParams(params) {
        if (params.text !== undefined) button.text = String(params.text);
        if (params.is_visible !== undefined) button.isVisible = !!params.is_visible;
        if (params.is_active !== undefined) button.isActive = !!params.is_active;
        sync(); return button;
      },
      onClick(f) { (handlers[clickEvent] = handlers[clickEvent] || []).push(f); return button; },
      offClick(f) { handlers[clickEvent] = (handlers[clickEvent] || []).filter((g) => g !== f); return button; },
    });
    return button;
  }

  const BackButton = {
    isVisible: false,
    show() { BackButton.isVisible = true; post("back_button", { visible: true }); return BackButton; },
    hide() { BackButton.isVisible = false; post("back_button", { visible: false }); return BackButton; },
    onClick(f) { (handlers.backButtonClicked = handlers.backButtonClicked || []).push(f); return BackButton; },
    offClick(f) { handlers.backButtonClicked = (handlers.backButtonClicked || []).filter((g) => g !== f); return BackButton; },
  };

  const WebApp = {
    initData,
    initDataUnsafe: parse(initData),
    version: "8.0",
    platform: "tgsim",
    themeParams,
    colorScheme: luminance(themeParams.bg_color) < 0.5 ? "dark" : "light",
    isExpanded: false,
    viewportHeight: window.innerHeight,
    viewportStableHeight: window.innerHeight,
    MainButton: bottomButton("main_button", "mainButtonClicked"),
    BackButton,
    HapticFeedback: {
      impactOccurred() { return WebApp.HapticFeedback; },
      notificationOccurred() { return WebApp.HapticFeedback; },
      selectionChanged() { return WebApp.HapticFeedback; },
    },
    isVersionAtLeast(version) { return parseFloat(version) <= 8.0; },
    ready() { post("ready", {}); },
    expand() { WebApp.isExpanded = true; post("expand", {}); },
    close() { post("close", {}); },
    onEvent(event, f) { (handlers[event] = handlers[event] || []).push(f); },
    offEvent(event, f) { handlers[event] = (handlers[event] || []).filter((g) => g !== f); },
    sendData(data) { post("data", { data: String(data) }); },
    openLink(url) { window.open(url, "_blank", "noopener"); },
    openTelegramLink(url) { window.open(url, "_blank", "noopener"); },
    showAlert(message, callback) { alert(message); if (callback) callback(); },
    showConfirm(message, callback) { const ok = confirm(message); if (callback) callback(ok); },
  };

  window.addEventListener("message", (event) => {
    let message;
    try { message = typeof event.data === "string" ? JSON.parse(event.data) : event.data; } catch { return; }
    if (!message || !message.tgsim) return;
    if (message.tgsim === "main_button_pressed" && WebApp.MainButton.isActive) emit("mainButtonClicked");
    if (message.tgsim === "back_button_pressed") emit("backButtonClicked");
    if (message.tgsim === "theme" && message.theme) {
      WebApp.themeParams = message.theme;
      WebApp.colorScheme = luminance(message.theme.bg_color) < 0.5 ? "dark" : "light";
      emit("themeChanged");
    }
  });

  window.Telegram = { WebApp };
})();
