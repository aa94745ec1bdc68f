// MedSync's web app script. In a plain browser it does nothing: every page works without it.
// Inside Telegram (the Mini App), it is what signs the person in: Telegram gives the page its
// initData, and this script sends it as `Authorization: tma <initData>` with every request,
// fetching pages and posting forms itself and swapping the page in place. It also follows
// Telegram's theme and drives Telegram's Main and Back buttons.
"use strict";
(() => {
  const KEY = "medsync.tma";
  // A third-party iframe (Telegram Web) may be denied storage: then only the URL's hash holds
  // initData, which is enough for this page's life (navigation swaps pages in place).
  const stored = { get() { try { return sessionStorage.getItem(KEY); } catch { return null; } },
                   set(v) { try { sessionStorage.setItem(KEY, v); } catch { /* no storage */ } } };
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("tgWebAppData");
  const initData = fromHash || stored.get();
  if (!initData) return;
  stored.set(initData);

  let tg = null;
  let depth = 0;
  let mainAction = null;

  const script = document.createElement("script");
  script.src = document.body.dataset.telegramJs;
  script.onload = start;
  document.head.append(script);

  function theme() {
    const root = document.documentElement;
    const p = tg.themeParams || {};
    const set = (name, value) => value ? root.style.setProperty(name, value) : root.style.removeProperty(name);
    set("--tg-bg", p.bg_color);
    set("--tg-card", p.secondary_bg_color);
    set("--tg-text", p.text_color);
    set("--tg-muted", p.hint_color);
    set("--tg-link", p.link_color);
    set("--tg-button", p.button_color);
    set("--tg-button-text", p.button_text_color);
    root.dataset.theme = tg.colorScheme === "dark" ? "dark" : "light";
  }

  function buttons() {
    const form = document.querySelector("form[data-main-button]");
    if (mainAction) tg.MainButton.offClick(mainAction);
    mainAction = null;
    if (form) {
      mainAction = () => submit(form);
      tg.MainButton.setText(form.dataset.mainButton);
      tg.MainButton.onClick(mainAction);
      tg.MainButton.show();
    } else {
      tg.MainButton.hide();
    }
    if (depth > 0) tg.BackButton.show(); else tg.BackButton.hide();
  }

  async function load(url, options, how) {
    let response;
    try {
      response = await fetch(url, {
        ...options,
        credentials: "omit",
        headers: { ...(options.headers || {}), Authorization: `tma ${initData}` },
      });
    } catch (error) {
      alert("MedSync cannot be reached. Check the connection and try again.");
      return;
    } finally {
      if (tg) tg.MainButton.hideProgress();
    }
    const html = await response.text();
    const page = new DOMParser().parseFromString(html, "text/html");
    document.title = page.title;
    document.body.replaceChildren(...page.body.childNodes);
    document.body.classList.add("telegram");
    const target = new URL(response.url || url, location.href);
    const path = target.pathname + target.search;
    if (how === "push") { history.pushState({ depth: depth + 1 }, "", path); depth += 1; }
    if (how === "replace") history.replaceState({ depth }, "", path);
    window.scrollTo(0, 0);
    buttons();
    if (response.ok && /\/visits\?booked=/.test(path)) tg.HapticFeedback.notificationOccurred("success");
  }

  function submit(form) {
    const data = new URLSearchParams(new FormData(form));
    const method = (form.getAttribute("method") || "get").toLowerCase();
    const action = form.getAttribute("action") || location.pathname;
    if (method === "post") {
      tg.MainButton.showProgress();
      return load(action, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: data.toString(),
      }, "push");
    }
    return load(`${action}?${data}`, {}, "push");
  }

  function start() {
    tg = window.Telegram && window.Telegram.WebApp;
    if (!tg) return;
    tg.ready();
    tg.expand();
    theme();
    tg.onEvent("themeChanged", theme);
    tg.BackButton.onClick(() => history.back());
    document.addEventListener("click", (event) => {
      const link = event.target.closest("a[href]");
      if (!link || link.target || event.defaultPrevented) return;
      const url = new URL(link.href, location.href);
      if (url.origin !== location.origin || !url.pathname.startsWith("/app/")) return;
      event.preventDefault();
      load(url.pathname + url.search, {}, "push");
    });
    document.addEventListener("submit", (event) => {
      event.preventDefault();
      submit(event.target);
    });
    window.addEventListener("popstate", (event) => {
      depth = (event.state && event.state.depth) || 0;
      load(location.pathname + location.search, {}, "none");
    });
    load(location.pathname + location.search, {}, "replace");
  }
})();
