// Two-factor authentication, as a person uses it: turning it on from the account page with an
// authenticator app (the secret read off the page, codes computed here), signing in with a
// code and trusting the device, a trusted device not asked again, another device asked, a
// backup code working once, a code by email, and a wrong code refused.
//
// The server accepts each 30-second TOTP step once: `freshCode` waits for a step not used yet.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import {
  closeBrowser,
  createUser,
  fresh,
  heading,
  mailTo,
  SCREENSHOTS,
  signIn,
  where,
} from "./lib.mjs";

after(closeBrowser);

const PERIOD = 30;

/** RFC 4648 base32 (whitespace and padding ignored) to bytes. */
function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const char of text.replace(/[\s=]/g, "").toUpperCase()) {
    const index = alphabet.indexOf(char);
    assert.ok(index >= 0, `the secret is not base32: ${JSON.stringify(text)}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

const stepNow = () => Math.floor(Date.now() / 1000 / PERIOD);

/** The 6-digit TOTP (HMAC-SHA1) of the base32 `secret` for time step `step`. */
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

/**
 * A code for a step after every one in `usedSteps`: the current step, or the next one (the
 * server accepts one step either side), waiting for time to catch up only when both are
 * used. The step is added to `usedSteps`.
 */
async function freshCode(secret, usedSteps) {
  const last = Math.max(-1, ...usedSteps);
  while (last + 1 > stepNow() + 1) {
    await new Promise((resolve) => setTimeout(resolve, (stepNow() + 1) * PERIOD * 1000 - Date.now() + 1000));
  }
  const step = Math.max(last + 1, stepNow());
  usedSteps.add(step);
  return totp(secret, step);
}

/** A 6-digit code no step around now accepts. */
function wrongCode(secret) {
  const valid = new Set([-1, 0, 1].map((d) => totp(secret, stepNow() + d)));
  for (let n = 0; ; n += 1) {
    const code = String(n * 111_111 % 1_000_000).padStart(6, "0");
    if (!valid.has(code)) return code;
  }
}

/** Signs out from the account page. */
async function signOut(page) {
  await page.goto("/auth/account");
  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await page.waitForURL((url) => url.pathname === "/auth/sign-in");
}

// Shared by the tests of this file, which run in order.
const state = { user: null, secret: "", backupCodes: [], usedSteps: new Set() };

test("turning on two-factor from the account page; signing in asks for a code, and a trusted device is not asked again", async () => {
  const user = await createUser("two-factor", "Two Factor");
  const { page, close } = await fresh();
  try {
    await signIn(page, user, { callbackURL: "/auth/account", landing: "/auth/account" });
    const section = page.getByRole("region", { name: "Two-factor authentication" });
    await section.getByLabel("Current password", { exact: true }).fill(user.password);
    await section.getByRole("button", { name: "Set up two-factor authentication" }).click();

    // The enrolment: QR code, secret, backup codes (to download), a form to confirm.
    await section.getByRole("img", { name: "QR code for your authenticator app" }).waitFor();
    await section.getByText("Secret key").first().waitFor();
    const secret = (await page.locator("#totp-secret").textContent()).replace(/\s+/g, "");
    assert.match(secret, /^[A-Z2-7]+=*$/i, `secret shown: ${secret}`);
    assert.equal(base32Decode(secret).length, 32, "a Better Auth secret is 32 characters");
    const list = section.getByRole("list", { name: "Backup codes" });
    const backupCodes = (await list.getByRole("listitem").allTextContents()).map((c) => c.trim());
    assert.ok(backupCodes.length >= 2, `backup codes shown: ${backupCodes}`);
    for (const code of backupCodes) assert.match(code, /^[A-Za-z0-9]{5}-[A-Za-z0-9]{5}$/);
    const downloadLink = section.getByRole("link", { name: "Download backup codes" });
    assert.equal(await downloadLink.getAttribute("download"), "backup-codes.txt");
    const [download] = await Promise.all([page.waitForEvent("download"), downloadLink.click()]);
    let downloaded = "";
    for await (const chunk of await download.createReadStream()) downloaded += chunk;
    for (const code of backupCodes) assert.ok(downloaded.includes(code), `${code} not in the download:\n${downloaded}`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await section.screenshot({ path: path.join(SCREENSHOTS, "two-factor-enrolment.png") });

    await section
      .getByRole("textbox", { name: "Verification code", exact: true })
      .fill(await freshCode(secret, state.usedSteps));
    await section.getByRole("button", { name: "Turn on two-factor authentication" }).click();
    await section.getByText("Two-factor authentication is on.").waitFor();
    await section.getByRole("button", { name: "Regenerate backup codes" }).waitFor();
    await section.getByRole("button", { name: "Turn off two-factor authentication" }).waitFor();
    Object.assign(state, { user, secret, backupCodes });

    // Signing in now stops at the code page; a wrong code is refused there.
    await signOut(page);
    await signIn(page, user, { callbackURL: "/app/page", landing: "/auth/two-factor" });
    assert.equal(await heading(page), "Verification code");
    const code = page.getByRole("textbox", { name: "Verification code", exact: true });
    await code.fill(wrongCode(secret));
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByRole("alert").filter({ hasText: "Invalid code" }).waitFor();
    assert.equal(new URL(page.url()).pathname, "/auth/two-factor", `a wrong code went to ${where(page)}`);

    // The right code, trusting this device: signed in, where sign-in was going.
    await code.fill(await freshCode(secret, state.usedSteps));
    await page.getByRole("checkbox", { name: "Trust this device" }).check();
    await page.getByRole("button", { name: "Verify" }).click();
    await page.waitForURL((url) => url.pathname === "/app/page");
    assert.equal(await heading(page), `Hello, ${user.name}`);

    // This device is trusted: no code asked.
    await signOut(page);
    await signIn(page, user, { callbackURL: "/auth/account", landing: "/auth/account" });
  } finally {
    await close();
  }
});

test("another device is asked for a code; a backup code works once; a code by email works", async () => {
  const { user, backupCodes } = state;
  assert.ok(user, "the previous test did not turn two-factor on");
  const { page, close } = await fresh();
  try {
    await signIn(page, user, { callbackURL: "/auth/account", landing: "/auth/two-factor" });
    await page.getByRole("link", { name: "Use a backup code" }).click();
    await page.waitForURL((url) => url.searchParams.get("method") === "backup");
    await page.getByRole("textbox", { name: "Backup code", exact: true }).fill(backupCodes[0]);
    await page.getByRole("button", { name: "Verify" }).click();
    await page.waitForURL((url) => url.pathname === "/auth/account");

    // The same backup code again, for a new sign-in: refused.
    await signOut(page);
    await signIn(page, user, { callbackURL: "/auth/account", landing: "/auth/two-factor" });
    await page.getByRole("link", { name: "Use a backup code" }).click();
    await page.waitForURL((url) => url.searchParams.get("method") === "backup");
    await page.getByRole("textbox", { name: "Backup code", exact: true }).fill(backupCodes[0]);
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByRole("alert").filter({ hasText: /Invalid (backup )?code/ }).waitFor();
    assert.equal(new URL(page.url()).pathname, "/auth/two-factor", `a used backup code went to ${where(page)}`);

    // A code by email instead.
    await page.goto("/auth/two-factor?callbackURL=%2Fauth%2Faccount");
    await page.getByRole("button", { name: "Email me a code" }).click();
    await page.getByText("We sent a code to").waitFor();
    const mail = (await mailTo(user.email, { subject: /sign-in code/ })).at(-1);
    const mailed = mail.text.match(/^\s*(\d{6})\s*$/m)?.[1];
    assert.ok(mailed, `no code in:\n${mail.text}`);
    await page.getByRole("textbox", { name: "Email code", exact: true }).fill(mailed);
    await page.getByRole("button", { name: "Verify" }).click();
    await page.waitForURL((url) => url.pathname === "/auth/account");
  } finally {
    await close();
  }
});
