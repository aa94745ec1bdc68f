#!/usr/bin/env node
// webapp.mjs — the web app in headless Chromium, as people use it:
//
//   1. in a plain browser: create an account, find a doctor, book a time, see it under
//      "My visits", cancel it;
//   2. inside Telegram (tgsim's chat page): open the Mini App from the bot's "Open the app"
//      button, book with Telegram's Main button, close the app, and see the worker's
//      confirmation arrive in the chat;
//   3. with JavaScript off: the plain-browser booking still works;
//   4. an axe-core scan of every page (no serious or critical violation), light and dark, and
//      a phone-width screenshot of each page, light and dark, in ARTIFACT_DIR.
//
// Environment:
//   APP_URL       the app through nginx (default http://localhost:8000/app/)
//   TGSIM_URL     tgsim's chat page (default http://127.0.0.1:8090)
//   ADMIN_EMAIL / ADMIN_PASSWORD    an admin account (the dev seed's), for "Today"
//   DOCTOR_EMAIL  an account the caller made a doctor's (password DOCTOR_PASSWORD), for "Agenda"
//   ARTIFACT_DIR  screenshots (default target/artifacts)
//   CHROMIUM      the Chromium binary (default /usr/bin/chromium)
//
// Exit status 0 when every scenario passed, 1 otherwise (each failure is printed).

import { mkdir } from "node:fs/promises";
import path from "node:path";
import { chromium } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";

const APP_URL = process.env.APP_URL || "http://localhost:8000/app/";
const TGSIM_URL = process.env.TGSIM_URL || "http://127.0.0.1:8090";
const ARTIFACT_DIR = process.env.ARTIFACT_DIR || "target/artifacts";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const PASSWORD = "correct horse 42";
const PHONE = { width: 390, height: 844 };
const HARD_LIMIT_MS = 300_000;

const log = (line) => console.log(`[webapp] ${line}`);
const failures = [];
const shot = (name) => path.join(ARTIFACT_DIR, `webapp-${name}.png`);
const app = (p) => new URL(p, APP_URL).href;
const unique = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

async function scenario(name, body) {
  const started = Date.now();
  try {
    await body();
    log(`ok: ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (error) {
    failures.push(name);
    console.error(`[webapp] FAILED: ${name}: ${error.stack || error}`);
  }
}

/** Every page's axe scan (`within`: only that element, e.g. the Mini App's frame): serious
 * and critical violations fail. */
const scanned = [];
async function accessible(page, label, within) {
  const builder = new AxeBuilder({ page });
  if (within) builder.include(within);
  const results = await builder.analyze();
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  scanned.push(label);
  if (bad.length) {
    const detail = bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
    throw new Error(`accessibility of ${label}: ${detail.join("; ")}`);
  }
}

/** Screenshot and scan the page as it is, then the same URL in the dark. */
async function record(page, dark, name) {
  await page.screenshot({ path: shot(`${name}-light`), fullPage: true });
  await accessible(page, `${name} (light)`);
  await dark.goto(page.url());
  await dark.screenshot({ path: shot(`${name}-dark`), fullPage: true });
  await accessible(dark, `${name} (dark)`);
}

async function register(page, email) {
  await page.goto(app("register"));
  await page.fill("#name", "Pat Browser");
  await page.fill("#email", email);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL(/\/app\/$/), page.click("button.primary")]);
}

/** The index of the first day of the strip, two days ahead or more, with free times. */
async function bookableDay(days) {
  const full = await days.evaluateAll((links) => links.map((a) => a.classList.contains("full")));
  const index = full.findIndex((isFull, i) => i >= 2 && !isFull);
  if (index < 0) throw new Error("no day with free times in the strip");
  return index;
}

/** From the home page to the confirmation page of a free time. */
async function toConfirmation(page) {
  await page.goto(app(""));
  await Promise.all([page.waitForURL(/\/app\/doctors\?specialty=/), page.locator(".cards a").first().click()]);
  await Promise.all([page.waitForURL(/\/app\/doctors\/[0-9a-f-]+$/), page.locator(".cards a").first().click()]);
  // A day with free times, two days ahead or more: still cancellable (24 h notice).
  const day = page.locator(".days a").nth(await bookableDay(page.locator(".days a")));
  await Promise.all([page.waitForURL(/day=/), day.click()]);
  await Promise.all([page.waitForURL(/\/app\/book\?/), page.locator(".times a").first().click()]);
}

async function plainBrowser(browser) {
  const light = await browser.newContext({ viewport: PHONE, colorScheme: "light" });
  const page = await light.newPage();
  const email = `web-${unique()}@example.com`;
  await register(page, email);
  const dark = await browser.newContext({ viewport: PHONE, colorScheme: "dark", storageState: await light.storageState() });
  const darkPage = await dark.newPage();
  await record(page, darkPage, "home");
  await page.goto(app("doctors"));
  await record(page, darkPage, "doctors");
  await toConfirmation(page);
  const doctorUrl = page.url();
  await page.goBack();
  await record(page, darkPage, "doctor");
  await page.goto(doctorUrl);
  await record(page, darkPage, "confirm");
  await Promise.all([page.waitForURL(/\/app\/visits\?booked=/), page.click("form[data-main-button] button")]);
  const notice = await page.locator(".notice.success").innerText();
  if (!notice.includes("Booked:")) throw new Error(`no booking notice: ${notice}`);
  await record(page, darkPage, "visits");
  await Promise.all([page.waitForURL(/\/cancel$/), page.click("text=Cancel this visit")]);
  await record(page, darkPage, "cancel");
  await Promise.all([page.waitForURL(/cancelled=/), page.click("button.danger")]);
  if (!(await page.locator("text=The visit is cancelled.").isVisible())) throw new Error("not cancelled");
  await page.goto(app("telegram"));
  await record(page, darkPage, "telegram");
  await page.click("text=Get a link for Telegram");
  if (!(await page.locator("a[href^='https://t.me/']").isVisible())) throw new Error("no t.me link");
  // Signed out: the sign-in and registration pages.
  await Promise.all([page.waitForURL(/\/app\/$/), page.click("text=Sign out")]);
  await page.goto(app("signin"));
  await dark.clearCookies();
  await record(page, darkPage, "signin");
  await page.goto(app("register"));
  await record(page, darkPage, "register");
  await page.goto(app("no-such-page"));
  await record(page, darkPage, "not-found");
  await light.close();
  await dark.close();
}

async function staff(browser, email, password, pagePath, name) {
  const light = await browser.newContext({ viewport: PHONE, colorScheme: "light" });
  const page = await light.newPage();
  await page.goto(app("signin"));
  await page.fill("#email", email);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(/\/app\/$/), page.click("button.primary")]);
  await page.goto(app(pagePath));
  const heading = await page.locator("h1").innerText();
  const dark = await browser.newContext({ viewport: PHONE, colorScheme: "dark", storageState: await light.storageState() });
  await record(page, await dark.newPage(), name);
  await light.close();
  await dark.close();
  return heading;
}

async function withoutJavaScript(browser) {
  const context = await browser.newContext({ viewport: PHONE, javaScriptEnabled: false });
  const page = await context.newPage();
  await register(page, `nojs-${unique()}@example.com`);
  await toConfirmation(page);
  await Promise.all([page.waitForURL(/\/app\/visits\?booked=/), page.click("form[data-main-button] button")]);
  const notice = await page.locator(".notice.success").innerText();
  if (!notice.includes("Booked:")) throw new Error(`no booking notice without JavaScript: ${notice}`);
  await context.close();
}

async function miniApp(browser) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page = await context.newPage();
  const user = "1003";
  await page.goto(new URL("/", TGSIM_URL).href);
  await page.selectOption("#user", user);
  const token = (await page.inputValue("#token")).trim();
  const history = await (await page.request.get(new URL(`sim/bots/${encodeURIComponent(token)}/chats/${user}/messages`, TGSIM_URL).href)).json();
  const before = history.result.length;
  await page.fill("#text", "/start");
  await page.click("#send button[type=submit]");
  const openButton = page.locator(".msg.bot .keyboard button[data-web-app]").last();
  await openButton.waitFor({ timeout: 30_000 });
  const menu = page.locator("#menu-app");
  await menu.waitFor({ timeout: 10_000 });
  await openButton.click();
  const frame = page.frameLocator("#app-frame");
  // Signed in by Telegram: the page swapped in by the app's script, the header hidden.
  await frame.locator("body.telegram").waitFor({ timeout: 20_000 });
  await page.screenshot({ path: shot("miniapp-home-light"), fullPage: false });
  await frame.locator(".cards a").first().click();
  await frame.locator("h1").filter({ hasNotText: "Book a visit" }).waitFor();
  if (await page.locator("#app-back").isHidden()) throw new Error("the Back button is not shown after a step");
  await frame.locator(".cards a").first().click();
  await frame.locator(".days").waitFor();
  await frame.locator(".days a").nth(await bookableDay(frame.locator(".days a"))).click();
  await frame.locator("h3").waitFor();
  await frame.locator(".times a").first().click();
  await frame.locator("text=Confirm your visit").waitFor();
  const main = page.locator("#app-main");
  await main.waitFor({ state: "visible", timeout: 10_000 });
  if ((await main.innerText()) !== "Book this visit") throw new Error(`Main button says ${await main.innerText()}`);
  await page.screenshot({ path: shot("miniapp-confirm-light"), fullPage: false });
  await accessible(page, "Mini App confirm (Telegram light)", "#app-frame");
  await main.click();
  await frame.locator(".notice.success").waitFor({ timeout: 15_000 });
  const notice = await frame.locator(".notice.success").innerText();
  if (!notice.includes("Booked:")) throw new Error(`no booking notice in the Mini App: ${notice}`);
  await page.selectOption("#theme", "dark");
  await page.waitForTimeout(300);
  await page.screenshot({ path: shot("miniapp-visits-dark"), fullPage: false });
  await accessible(page, "Mini App visits (Telegram dark)", "#app-frame");
  if (!notice.includes("A confirmation follows in this chat.")) throw new Error(`notice: ${notice}`);
  await page.click("#app-close");
  await page.locator("#app").waitFor({ state: "hidden" });
  const confirmation = page.locator(".msg.bot", { hasText: "Your visit is booked" });
  await confirmation.last().waitFor({ timeout: 30_000 });
  const after = await (await page.request.get(new URL(`sim/bots/${encodeURIComponent(token)}/chats/${user}/messages`, TGSIM_URL).href)).json();
  if (after.result.length <= before) throw new Error("nothing new in the chat");
  await page.screenshot({ path: shot("miniapp-chat-after"), fullPage: true });
  await context.close();
}

async function run() {
  await mkdir(ARTIFACT_DIR, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    await scenario("in a plain browser: register, book, see it under My visits, cancel (axe, light and dark)", () => plainBrowser(browser));
    await scenario("with JavaScript off: register and book", () => withoutJavaScript(browser));
    if (process.env.ADMIN_EMAIL) {
      await scenario("an admin sees today's bookings (axe, light and dark)", async () => {
        const heading = await staff(browser, process.env.ADMIN_EMAIL, process.env.ADMIN_PASSWORD, "today", "today");
        if (heading !== "Today") throw new Error(`admin's page is ${heading}`);
      });
    }
    if (process.env.DOCTOR_EMAIL) {
      await scenario("a doctor sees the agenda (axe, light and dark)", async () => {
        const heading = await staff(browser, process.env.DOCTOR_EMAIL, process.env.DOCTOR_PASSWORD || PASSWORD, "agenda", "agenda");
        if (heading !== "My agenda") throw new Error(`doctor's page is ${heading}`);
      });
    }
    await scenario("in tgsim: open the Mini App from the bot's button, book with the Main button, close it, see the worker's confirmation", () => miniApp(browser));
  } finally {
    await browser.close();
  }
  log(`pages scanned by axe: ${scanned.length} (${scanned.join(", ")})`);
  log(`screenshots in ${ARTIFACT_DIR}/webapp-*.png`);
  return failures.length ? 1 : 0;
}

setTimeout(() => {
  console.error(`[webapp] FAILED: still running after ${HARD_LIMIT_MS / 1000} s`);
  process.exit(1);
}, HARD_LIMIT_MS).unref();

run().then((code) => process.exit(code), (error) => {
  console.error(`[webapp] FAILED: ${error.stack || error}`);
  process.exit(1);
});
