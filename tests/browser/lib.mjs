// Shared helpers of the browser suite (tests/browser/*.test.mjs): the stack's URLs, the
// browser (the one run.mjs started, or one of its own when a file runs alone), the mail the
// test SMTP listener captured, and small waits. Assertions stay in the test files.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run the suite through the Rust test ` +
        "(cargo test -p edgeauth-tests --test e2e -- browser), which starts the stack",
    );
  }
  return value;
}

/** The edge: the site a person uses (the app, /auth pages, /api/auth). */
export const EDGE = required("EDGE_URL");
/**
 * The edge by name (http://localhost:<edge port>): where passkeys work (a WebAuthn RP ID is a
 * domain, never an IP address). Cookies are per host: a session made on EDGE is not one here.
 */
export const EDGE_LOCALHOST = process.env.EDGE_LOCALHOST_URL ?? EDGE.replace("//127.0.0.1:", "//localhost:");
/** The demo application on its own port: another origin, same site (127.0.0.1). */
export const DEMO = required("DEMO_URL");
/** The captured mail: GET `${MAIL}/messages`. */
export const MAIL = required("MAIL_URL");
/** Seconds the edge caches a session answer. */
export const SESSION_CACHE_TTL = Number(process.env.SESSION_CACHE_TTL ?? 60);
export const SCREENSHOTS = process.env.SCREENSHOT_DIR ?? path.resolve("target/browser-screenshots");
/** A host name on another site than the edge, resolved to 127.0.0.1 by the browser. */
export const ATTACKER_HOST = "attacker.test";
export const PASSWORD = "correct horse battery staple";

/** Chromium's flags for the suite (run.mjs launches the shared browser with them). */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  `--host-resolver-rules=MAP ${ATTACKER_HOST} 127.0.0.1`,
];

let browserPromise;
/** The suite's browser: the shared one (BROWSER_WS_ENDPOINT), else a private one. */
export function browser() {
  browserPromise ??= process.env.BROWSER_WS_ENDPOINT
    ? chromium.connect(process.env.BROWSER_WS_ENDPOINT)
    : chromium.launch({
        executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
        args: CHROMIUM_ARGS,
      });
  return browserPromise;
}

/** Closes this file's connection to the browser (node's `after`). */
export async function closeBrowser() {
  if (browserPromise) await (await browserPromise).close();
}

/** A fresh browser context (its own cookies), with a page, and a way to close both. */
export async function fresh(options = {}) {
  const context = await (await browser()).newContext({ baseURL: EDGE, ...options });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(15_000);
  const page = await context.newPage();
  return { context, page, close: () => context.close() };
}

let counter = 0;
/** A unique address. */
export function uniqueEmail(tag) {
  counter += 1;
  return `${tag}-${process.pid}-${Date.now().toString(36)}-${counter}@example.com`;
}

/** Polls `check` (a function returning a truthy value when satisfied) until it passes. */
export async function eventually(check, { timeout = 5000, interval = 50, message } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`${message ?? "condition"} not met within ${timeout} ms (last: ${why})`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** Every captured message to `address` whose subject matches `subject`, at least `count`. */
export async function mailTo(address, { subject = /./, count = 1, timeout = 15_000 } = {}) {
  const wanted = address.toLowerCase();
  return eventually(
    async () => {
      const all = await (await fetch(`${MAIL}/messages`)).json();
      const found = all.filter(
        (m) => m.to.some((to) => to.toLowerCase() === wanted) && subject.test(m.subject),
      );
      return found.length >= count ? found : null;
    },
    { timeout, interval: 100, message: `${count} mail(s) to ${address} matching ${subject}` },
  );
}

/** The first http(s) URL in a message's text part that contains `fragment`. */
export function linkIn(message, fragment) {
  const urls = (message.text ?? "").match(/https?:\/\/[^\s<>"']+/g) ?? [];
  const url = urls.find((u) => u.includes(fragment));
  assert.ok(url, `no link containing ${fragment} in:\n${message.text}`);
  return url;
}

/**
 * Creates an account through the auth API (set-up, not under test) and ends the session
 * sign-up made, so that the account's sessions are the browsers' only; returns its details.
 */
export async function createUser(tag, name = `User ${tag}`) {
  const email = uniqueEmail(tag);
  const response = await fetch(`${EDGE}/api/auth/sign-up/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: EDGE },
    body: JSON.stringify({ name, email, password: PASSWORD }),
  });
  const answer = await response.text();
  assert.equal(response.status, 200, answer);
  const { token } = JSON.parse(answer);
  const signedOut = await fetch(`${EDGE}/api/auth/sign-out`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, origin: EDGE },
  });
  assert.equal(signedOut.status, 200, await signedOut.text());
  return { name, email, password: PASSWORD };
}

/** Signs `page` in through the sign-in page, as a person does; waits for where it lands. */
export async function signIn(page, user, { callbackURL, landing } = {}) {
  const query = callbackURL ? `?callbackURL=${encodeURIComponent(callbackURL)}` : "";
  await page.goto(`/auth/sign-in${query}`);
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password", { exact: true }).fill(user.password);
  const posted = page.waitForResponse(
    (r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/auth/sign-in",
  );
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  const response = await posted;
  assert.equal(response.status(), 303, `sign-in answered ${response.status()}`);
  await page.waitForURL((url) => url.pathname !== "/auth/sign-in");
  if (landing) assert.equal(new URL(page.url()).pathname, landing);
}

/** The text of the page's main heading. */
export async function heading(page) {
  return (await page.getByRole("heading", { level: 1 }).textContent()).trim();
}

/** The path (and query) the page shows. */
export function where(page) {
  const url = new URL(page.url());
  return url.pathname + url.search;
}

/**
 * Opens the protected app page in `page` until the edge refuses it (sends it to sign-in);
 * fails when a request started `timeout` ms or more after the first one still gets in. (The
 * edge is told at once, so the first request is refused; the bound is on when a request is
 * sent, not on how long a loaded machine takes to answer it.)
 */
export async function refusedWithin(page, timeout) {
  const started = Date.now();
  for (;;) {
    const sent = Date.now() - started;
    await page.goto("/app/page");
    if (new URL(page.url()).pathname === "/auth/sign-in") return sent;
    if (Date.now() - started >= timeout) {
      assert.fail(`the edge still let the ended session in ${sent} ms later: ${await heading(page)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Saves a screenshot as `<name>.png` under the screenshot directory. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** A phone-sized viewport for contexts. */
export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
