#!/usr/bin/env node
// book.mjs — a person books an appointment through tgsim's chat page, in headless Chromium.
//
// Opens tgsim's page (served at TGSIM_URL), picks a Telegram user, sends /start and waits for
// the bot's answer, sends /book, then presses the first non-navigation inline button of the
// bot's newest keyboard until a bot message says "Booked" (the bot edits one message in place
// for each step). Saves a full-page screenshot either way. Run it through
// scripts/browser-test.sh, which installs playwright-core (no browser download).
//
// Environment:
//   TGSIM_URL     tgsim's base URL (default http://127.0.0.1:8090)
//   BOT_TOKEN     the bot's token, typed into the page's token field; unset: the page's default
//                 (tgsim --default-token / TELEGRAM_BOT_TOKEN)
//   TG_USER       the user id to pick in the page's user list (default: the first one)
//   ARTIFACT_DIR  where screenshots go (default target/artifacts)
//   WAIT_FOR_WORKER  1: also wait for the worker's confirmation message (the full stack runs)
//   CHROMIUM      the Chromium binary (default /usr/bin/chromium)
//
// Exit status 0 when booked, 1 otherwise (the reason is printed).

import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { chromium } from "playwright-core";

const TGSIM_URL = process.env.TGSIM_URL || "http://127.0.0.1:8090";
const BOT_TOKEN = (process.env.BOT_TOKEN || "").trim();
const TG_USER = (process.env.TG_USER || "").trim();
const ARTIFACT_DIR = process.env.ARTIFACT_DIR || "target/artifacts";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

const SCREENSHOT = path.join(ARTIFACT_DIR, "tgsim-booking.png");
const FAILED_SCREENSHOT = path.join(ARTIFACT_DIR, "tgsim-booking-failed.png");

/** How long the bot may take to answer /start (its first getUpdates may still be starting). */
const START_REPLY_MS = 30_000;
/** The whole /book dialogue, from sending /book to "Booked". */
const BOOKING_MS = 60_000;
const MAX_CLICKS = 12;
/** How often the DOM is read; the page itself polls tgsim once a second. */
const POLL_MS = 200;
/** Kill switch, in case the browser itself hangs. */
const HARD_LIMIT_MS = 180_000;

const BOOKED = "Booked";
/** The start of the worker's confirmation (services/worker/src/handlers.rs). */
const WORKER_NOTICE = "Your visit is booked";

const log = (line) => console.log(`[browser] ${line}`);

class Failure extends Error {}

/** Navigation buttons (back / cancel) are never pressed. */
const isNavigation = (label) => /^\s*(«|✖)/u.test(label);

/** The page's URLs (chat.js, sim/…) are relative: the base must end with a slash. */
function pageUrl() {
  let url;
  try {
    url = new URL(TGSIM_URL);
  } catch {
    throw new Failure(`TGSIM_URL is not a URL: ${JSON.stringify(TGSIM_URL)}`);
  }
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  url.search = "";
  url.hash = "";
  return url;
}

/** Every message bubble of the page, as the user sees it (runs in the page). */
function readChat() {
  return [...document.querySelectorAll("#log .msg")].map((bubble) => {
    // A bubble is: its text (one text node), then .keyboard (bot only), then .meta.
    const first = bubble.firstChild;
    return {
      id: Number(bubble.dataset.messageId),
      bot: bubble.classList.contains("bot"),
      text: first && first.nodeType === Node.TEXT_NODE ? first.textContent : "",
      buttons: [...bubble.querySelectorAll(".keyboard .row button")].map((b) => b.textContent),
    };
  });
}

const botSince = (chat, afterId) => chat.filter((m) => m.bot && m.id > afterId);
const newestWithButtons = (messages) => messages.filter((m) => m.buttons.length > 0).at(-1);
const bookedIn = (messages) => messages.find((m) => m.text.includes(BOOKED));
const key = (m) => (m ? JSON.stringify([m.id, m.text, m.buttons]) : "");
const oneLine = (text) => text.replace(/\s+/g, " ").trim().slice(0, 100);
const describe = (m) =>
  `#${m.id} ${JSON.stringify(oneLine(m.text))}` +
  (m.buttons.length ? ` [${m.buttons.join(" | ")}]` : "");

async function main(page, diagnostics) {
  const base = pageUrl();
  log(`opening ${base.href}`);
  try {
    await page.goto(base.href, { waitUntil: "domcontentloaded", timeout: 15_000 });
  } catch (error) {
    throw new Failure(`cannot open tgsim's page at ${base.href} (is tgsim running?): ${error.message.split("\n")[0]}`);
  }
  for (const selector of ["#user", "#token", "#send", "#text", "#log"]) {
    if ((await page.locator(selector).count()) !== 1) {
      throw new Failure(`${base.href} is not tgsim's chat page: no ${selector}`);
    }
  }

  // The bot token: typed in, or the one tgsim put in the page.
  const tokenInput = page.locator("#token");
  if (BOT_TOKEN) {
    await tokenInput.fill(BOT_TOKEN);
    await tokenInput.blur(); // the page reloads the chat on `change`
  }
  const token = (await tokenInput.inputValue()).trim();
  if (!token) {
    throw new Failure("the page has no bot token: set BOT_TOKEN, or start tgsim with --default-token (TELEGRAM_BOT_TOKEN)");
  }

  // The user.
  const users = await page.locator("#user option").evaluateAll((options) =>
    options.map((o) => ({ value: o.value, label: o.textContent })));
  if (users.length === 0) throw new Failure("the page's user list (#user) is empty");
  const user = TG_USER || users[0].value;
  if (!users.some((u) => u.value === user)) {
    throw new Failure(`TG_USER=${user} is not in the page's user list: ${users.map((u) => u.value).join(", ")}`);
  }
  await page.locator("#user").selectOption(user);
  log(`user ${users.find((u) => u.value === user).label}, token ${token.split(":")[0]}:…`);

  // Where the chat stands before we say anything (tgsim keeps chats for its whole life, so
  // earlier runs may have left messages): only messages after this one count.
  const history = await page.request.get(
    new URL(`sim/bots/${encodeURIComponent(token)}/chats/${encodeURIComponent(user)}/messages`, base).href,
  );
  const body = history.ok() ? await history.json() : null;
  if (!body || !body.ok || !Array.isArray(body.result)) {
    throw new Failure(`tgsim did not return the chat log (HTTP ${history.status()})`);
  }
  const startAfter = body.result.reduce((max, m) => Math.max(max, Number(m.message_id) || 0), 0);

  const readUntil = async (done, deadline, what) => {
    let chat = [];
    for (;;) {
      chat = await page.evaluate(readChat);
      const result = done(chat);
      if (result) return { chat, result };
      if (Date.now() >= deadline) {
        const error = new Failure(`timed out waiting for ${what}`);
        error.chat = chat;
        throw error;
      }
      await page.waitForTimeout(POLL_MS);
    }
  };

  // Types TEXT into the message box, presses Send, and waits for the page to show it;
  // returns its message id.
  const say = async (text, afterId) => {
    await page.locator("#text").fill(text);
    await page.locator("#send button[type=submit]").click();
    const { result } = await readUntil(
      (chat) => chat.find((m) => !m.bot && m.id > afterId && m.text === text),
      Date.now() + 10_000,
      `the page to show our message ${JSON.stringify(text)} (did tgsim accept it? see the page's console below)`,
    );
    log(`sent ${text}`);
    return result.id;
  };

  // /start → any bot reply.
  const startId = await say("/start", startAfter);
  const { result: welcome } = await readUntil(
    (chat) => botSince(chat, startId)[0],
    Date.now() + START_REPLY_MS,
    `the bot to answer /start (${START_REPLY_MS / 1000} s) — is the bot running against this tgsim with this token?`,
  );
  log(`bot: ${JSON.stringify(oneLine(welcome.text))}`);

  // /book → press buttons until "Booked".
  const bookingDeadline = Date.now() + BOOKING_MS;
  const lastSeen = (await page.evaluate(readChat)).reduce((max, m) => Math.max(max, m.id), startId);
  const bookId = await say("/book", lastSeen);
  let { chat } = await readUntil(
    (c) => bookedIn(botSince(c, bookId)) || newestWithButtons(botSince(c, bookId)),
    bookingDeadline,
    "the bot to answer /book with inline buttons",
  );
  let clicks = 0;
  for (;;) {
    const mine = botSince(chat, bookId);
    const booked = bookedIn(mine);
    if (booked) {
      log(`bot: ${JSON.stringify(oneLine(booked.text))}`);
      break;
    }
    const step = newestWithButtons(mine);
    if (clicks >= MAX_CLICKS) {
      const error = new Failure(`gave up after ${MAX_CLICKS} clicks without a "${BOOKED}" message; the bot's last keyboard: ${describe(step)}`);
      error.chat = chat;
      throw error;
    }
    const index = step.buttons.findIndex((label) => !isNavigation(label));
    if (index < 0) {
      const error = new Failure(`the bot's message offers only navigation buttons: ${describe(step)}`);
      error.chat = chat;
      throw error;
    }
    const label = step.buttons[index];
    log(`step ${clicks + 1}: ${JSON.stringify(oneLine(step.text))} → pressing "${label}"`);
    const button = page
      .locator(`#log .msg.bot[data-message-id="${step.id}"] .keyboard .row button`)
      .nth(index);
    try {
      await button.click({ timeout: Math.max(1, bookingDeadline - Date.now()) });
    } catch (error) {
      throw new Failure(`could not press "${label}" on message #${step.id}: ${error.message.split("\n")[0]}`);
    }
    clicks += 1;
    // The bot edits the message in place (or sends a new one): wait until what we pressed on
    // is gone, or the booking is confirmed.
    const pressed = key(step);
    ({ chat } = await readUntil(
      (c) => {
        const now = botSince(c, bookId);
        const next = newestWithButtons(now);
        return bookedIn(now) || (next && key(next) !== pressed);
      },
      bookingDeadline,
      `the bot to react to "${label}" (the whole booking may take ${BOOKING_MS / 1000} s; ${clicks} click(s) so far)`,
    ));
  }

  // With WAIT_FOR_WORKER=1 (the whole stack is running), the worker's own confirmation — a
  // separate message, sent through the job queue — must arrive too.
  if (process.env.WAIT_FOR_WORKER === "1") {
    const { result: notice } = await readUntil(
      (c) => botSince(c, bookId).find((m) => m.text.includes(WORKER_NOTICE)),
      Date.now() + 30_000,
      `the worker's "${WORKER_NOTICE}" message (30 s) — is the worker running?`,
    );
    log(`worker: ${JSON.stringify(oneLine(notice.text))}`);
  }

  // The confirmation is on screen.
  const confirmation = page.locator("#log .msg.bot", { hasText: BOOKED }).last();
  await confirmation.waitFor({ state: "visible", timeout: 5_000 });
  await confirmation.scrollIntoViewIfNeeded();
  if (!(await confirmation.isVisible())) throw new Failure(`the "${BOOKED}" message is not visible`);
  await mkdir(ARTIFACT_DIR, { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  if (diagnostics.length) log(`page warnings (not fatal):\n  ${diagnostics.join("\n  ")}`);
  log(`booked through tgsim's page; screenshot: ${SCREENSHOT}`);
}

async function run() {
  if (!existsSync(CHROMIUM)) {
    throw new Failure(`no Chromium at ${CHROMIUM}: install it (Debian: apt-get install chromium) or set CHROMIUM`);
  }
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
      timeout: 30_000,
    });
  } catch (error) {
    throw new Failure(`cannot start Chromium (${CHROMIUM}): ${error.message}`);
  }
  const diagnostics = [];
  let page;
  try {
    const context = await browser.newContext({ viewport: { width: 900, height: 800 } });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on("console", (m) => {
      // "Failed to load resource" duplicates the response listener below, which names the URL.
      if ((m.type() === "warning" || m.type() === "error") && !m.text().startsWith("Failed to load resource")) {
        diagnostics.push(`console.${m.type()}: ${m.text()}`);
      }
    });
    page.on("response", (r) => {
      // tgsim serves no favicon; any other error answer is worth showing.
      if (r.status() >= 400 && !new URL(r.url()).pathname.endsWith("/favicon.ico")) {
        diagnostics.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
      }
    });
    page.on("pageerror", (e) => diagnostics.push(`page error: ${e.message}`));
    page.on("requestfailed", (r) => diagnostics.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ""}`));
    await main(page, diagnostics);
    return 0;
  } catch (error) {
    const reason = error instanceof Failure ? error.message : error.stack || String(error);
    console.error(`[browser] FAILED: ${reason}`);
    const chat = error.chat ?? (page ? await page.evaluate(readChat).catch(() => null) : null);
    if (chat && chat.length) {
      console.error(`[browser] the page shows (last 8):\n  ${chat.slice(-8).map((m) => `${m.bot ? "bot " : "user"} ${describe(m)}`).join("\n  ")}`);
    }
    if (diagnostics.length) console.error(`[browser] page console / network:\n  ${diagnostics.join("\n  ")}`);
    if (page) {
      try {
        await mkdir(ARTIFACT_DIR, { recursive: true });
        await page.screenshot({ path: FAILED_SCREENSHOT, fullPage: true, timeout: 10_000 });
        console.error(`[browser] screenshot: ${FAILED_SCREENSHOT}`);
      } catch (shotError) {
        console.error(`[browser] (no screenshot: ${shotError.message.split("\n")[0]})`);
      }
    }
    return 1;
  } finally {
    await browser.close().catch(() => {});
  }
}

const watchdog = setTimeout(() => {
  console.error(`[browser] FAILED: still running after ${HARD_LIMIT_MS / 1000} s; giving up`);
  process.exit(1);
}, HARD_LIMIT_MS);
watchdog.unref();

run().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`[browser] FAILED: ${error instanceof Failure ? error.message : error.stack || error}`);
    process.exit(1);
  },
);
