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
  await page.addScriptTag({ content: axeSource });
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

/** A context for the audit: the pages' CSP bypassed so axe can run. */
function auditContext(options = {}) {
  return fresh({ bypassCSP: true, ...options });
}

/**
 * Audits `path` (after `prepare`) and screenshots it on a desktop; with `more`, also on a
 * phone (screenshot) and in the dark colour scheme (audit and screenshot).
 */
async function check(name, path, { status = 200, more = false, prepare } = {}) {
  const variants = [["desktop", {}]];
  if (more) variants.push(["dark", { colorScheme: "dark" }], ["phone", PHONE]);
  for (const [device, options] of variants) {
    const { page, close } = await auditContext(options);
    try {
      if (prepare) {
        await prepare(page);
      } else {
        const response = await page.goto(path);
        assert.equal(response.status(), status, `${path} answered ${response.status()}`);
      }
      if (device !== "phone") await audit(page, `${name} (${device})`);
      await screenshot(page, `${name}-${device}`);
    } finally {
      await close();
    }
  }
}

test("axe: sign-in", () => check("sign-in", "/auth/sign-in", { more: true }));

test("axe: sign-in with an error", () =>
  check("sign-in-error", null, {
    prepare: async (page) => {
      await page.goto("/auth/sign-in");
      await page.getByLabel("Email").fill(user.email);
      await page.getByLabel("Password", { exact: true }).fill("wrong password entirely");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByText("Invalid email or password").waitFor();
    },
  }));

test("axe: sign-up", () => check("sign-up", "/auth/sign-up"));

test("axe: sign-up with an error", () =>
  check("sign-up-error", null, {
    prepare: async (page) => {
      await page.goto("/auth/sign-up");
      await page.getByLabel("Name").fill("Someone");
      await page.getByLabel("Email").fill(user.email);
      await page.getByLabel("Password").fill("a long enough passphrase");
      await page.getByRole("button", { name: "Create account" }).click();
      await page.locator(".field-error").first().waitFor();
    },
  }));

test("axe: forgot-password, and its answer", async () => {
  await check("forgot-password", "/auth/forgot-password");
  await check("forgot-password-sent", "/auth/forgot-password?sent=1");
});

test("axe: reset-password, from a mailed link and with a bad link", async () => {
  const response = await fetch(`${EDGE}/api/auth/request-password-reset`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: EDGE },
    body: JSON.stringify({ email: user.email, redirectTo: "/auth/reset-password" }),
  });
  assert.equal(response.status, 200);
  const [mail] = await mailTo(user.email, { subject: /^Reset your/ });
  const link = linkIn(mail, "/reset-password/");
  await check("reset-password", null, {
    prepare: async (page) => {
      await page.goto(link);
      assert.equal(await heading(page), "Choose a new password");
    },
  });
  await check("reset-password-invalid", "/auth/reset-password?error=INVALID_TOKEN", { status: 400 });
});

test("axe: verify-email, verified and with a bad link", async () => {
  await check("verify-email", "/auth/verify-email");
  await check("verify-email-error", "/auth/verify-email?error=invalid_token", { status: 400 });
});

test("axe: account", () =>
  check("account", null, {
    more: true,
    prepare: (page) => signIn(page, user, { callbackURL: "/auth/account", landing: "/auth/account" }),
  }));

test("axe: account with an error", () =>
  check("account-error", null, {
    prepare: async (page) => {
      await signIn(page, user, { callbackURL: "/auth/account", landing: "/auth/account" });
      const section = page.getByRole("region", { name: "Password" });
      await section.getByLabel("Password", { exact: true }).fill("not my password at all");
      await section.getByLabel("New password").fill("a new long passphrase 7");
      await section.getByRole("button", { name: "Change password" }).click();
      await section.locator(".field-error").waitFor();
    },
  }));

test("axe: the demo application's home and protected pages", async () => {
  await check("demo-home", "/");
  await check("demo-app", null, {
    prepare: (page) => signIn(page, user, { callbackURL: "/app/page", landing: "/app/page" }),
  });
});
