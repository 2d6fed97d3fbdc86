// Accessibility and looks: axe-core on every hosted page, in its normal and error states
// (and sign-in and the account page in the dark colour scheme too), must find no serious or
// critical violation (every violation found is printed); and a screenshot of each (desktop,
// plus dark and a phone for sign-in and the account page) goes to
// target/browser-screenshots/. axe is injected by the test: the pages' policy forbids any
// script, so these contexts bypass it (for this audit only).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { after, before, test } from "node:test";
import {
  closeBrowser,
  createUser,
  EDGE,
  fresh,
  heading,
  linkIn,
  mailTo,
  PHONE,
  screenshot,
  signIn,
} from "./lib.mjs";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
let user;

before(async () => {
  user = await createUser("a11y", "Grace Audit");
});
after(closeBrowser);

/** Runs axe on `page`; prints what it finds; fails on serious or critical violations. */
async function audit(page, name) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) {
    await page.addScriptTag({ content: axeSource });
  }
  const violations = await page.evaluate(async () => {
    const results = await window.axe.run(document, { resultTypes: ["violations"] });
    return results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(" ")),
    }));
  });
  for (const v of violations) {
    console.log(`axe ${name}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.join(", ")})`);
  }
  const blocking = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(blocking, [], `axe found serious or critical violations on ${name}`);
}

/** Audits the page as it is and screenshots it; with `dark`, in the dark colour scheme too. */
async function check(page, name, { dark = false } = {}) {
  await audit(page, name);
  await screenshot(page, `${name}-desktop`);
  if (dark) {
    await page.emulateMedia({ colorScheme: "dark" });
    await audit(page, `${name} (dark)`);
    await screenshot(page, `${name}-dark`);
    await page.emulateMedia({ colorScheme: null });
  }
}

/** Opens `path`, expecting `status`. */
async function visit(page, path, status = 200) {
  const response = await page.goto(path);
  assert.equal(response.status(), status, `${path} answered ${response.status()}`);
}

/**
 * Runs `flow` with a page whose context bypasses the pages' CSP (so axe can be injected);
 * `options` are the context's (a phone's viewport).
 */
async function withPage(flow, options = {}) {
  const { page, close } = await fresh({ bypassCSP: true, ...options });
  try {
    await flow(page);
  } finally {
    await close();
  }
}

test("axe: sign-in (light, dark; and on a phone)", async () => {
  await withPage(async (page) => {
    await visit(page, "/auth/sign-in");
    await check(page, "sign-in", { dark: true });
  });
  await withPage(async (page) => {
    await visit(page, "/auth/sign-in");
    await screenshot(page, "sign-in-phone");
  }, PHONE);
});

test("axe: sign-in with an error", () =>
  withPage(async (page) => {
    await visit(page, "/auth/sign-in");
    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Password", { exact: true }).fill("wrong password entirely");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByText("Invalid email or password").waitFor();
    await check(page, "sign-in-error");
  }));

test("axe: sign-up", () =>
  withPage(async (page) => {
    await visit(page, "/auth/sign-up");
    await check(page, "sign-up");
  }));

test("axe: sign-up with an error", () =>
  withPage(async (page) => {
    await visit(page, "/auth/sign-up");
    await page.getByLabel("Name").fill("Someone");
    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Password").fill("a long enough passphrase");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.locator(".field-error").first().waitFor();
    await check(page, "sign-up-error");
  }));

test("axe: forgot-password, and its answer", () =>
  withPage(async (page) => {
    await visit(page, "/auth/forgot-password");
    await check(page, "forgot-password");
    await visit(page, "/auth/forgot-password?sent=1");
    await check(page, "forgot-password-sent");
  }));

test("axe: reset-password, from a mailed link and with a bad link", async () => {
  const response = await fetch(`${EDGE}/api/auth/request-password-reset`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: EDGE },
    body: JSON.stringify({ email: user.email, redirectTo: "/auth/reset-password" }),
  });
  assert.equal(response.status, 200);
  const [mail] = await mailTo(user.email, { subject: /^Reset your/ });
  await withPage(async (page) => {
    await page.goto(linkIn(mail, "/reset-password/"));
    assert.equal(await heading(page), "Choose a new password");
    await check(page, "reset-password");
    await visit(page, "/auth/reset-password?error=INVALID_TOKEN", 400);
    await check(page, "reset-password-invalid");
  });
});

test("axe: verify-email, verified and with a bad link", () =>
  withPage(async (page) => {
    await visit(page, "/auth/verify-email");
    await check(page, "verify-email");
    await visit(page, "/auth/verify-email?error=invalid_token", 400);
    await check(page, "verify-email-error");
  }));

test("axe: account (light, dark; and on a phone)", async () => {
  const signedIn = (page) => signIn(page, user, { callbackURL: "/auth/account", landing: "/auth/account" });
  await withPage(async (page) => {
    await signedIn(page);
    await check(page, "account", { dark: true });
  });
  await withPage(async (page) => {
    await signedIn(page);
    await screenshot(page, "account-phone");
  }, PHONE);
});

test("axe: account with an error", () =>
  withPage(async (page) => {
    await signIn(page, user, { callbackURL: "/auth/account", landing: "/auth/account" });
    const section = page.getByRole("region", { name: "Password" });
    await section.getByLabel("Password", { exact: true }).fill("not my password at all");
    await section.getByLabel("New password").fill("a new long passphrase 7");
    await section.getByRole("button", { name: "Change password" }).click();
    await section.locator(".field-error").waitFor();
    await check(page, "account-error");
  }));

test("axe: the demo application's home and protected pages", () =>
  withPage(async (page) => {
    await visit(page, "/");
    await check(page, "demo-home");
    await signIn(page, user, { callbackURL: "/app/page", landing: "/app/page" });
    await check(page, "demo-app");
  }));
