// A person's first visit, in order: a protected page sends them to sign in, they create an
// account and land where they were going, verify their address from the mail, sign out,
// mistype their password, sign back in, and use the keyboard only.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  closeBrowser,
  fresh,
  heading,
  linkIn,
  mailTo,
  PASSWORD,
  screenshot,
  signIn,
  uniqueEmail,
  where,
} from "./lib.mjs";

after(closeBrowser);

// Not ASCII, and with characters that must be escaped wherever the name is shown.
const user = { name: "Zoë <Ada> O'Brien", email: uniqueEmail("journey"), password: PASSWORD };

test("a protected page sends a new visitor to sign in; creating an account lands back there, greeted by name", async () => {
  const { page, close } = await fresh();
  try {
    await page.goto("/app/page");
    assert.equal(new URL(page.url()).pathname, "/auth/sign-in", `landed on ${page.url()}`);
    assert.equal(new URL(page.url()).searchParams.get("callbackURL"), "/app/page");
    assert.equal(await heading(page), "Sign in");

    await page.getByRole("link", { name: "Create an account" }).click();
    await page.waitForURL((url) => url.pathname === "/auth/sign-up");
    assert.equal(new URL(page.url()).searchParams.get("callbackURL"), "/app/page");
    assert.equal(await heading(page), "Create your account");
    await page.getByLabel("Name").fill(user.name);
    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Password").fill(user.password);
    await page.getByRole("button", { name: "Create account" }).click();

    await page.waitForURL((url) => url.pathname === "/app/page");
    assert.equal(await heading(page), `Hello, ${user.name}`);
    const forwarded = page.getByRole("table", { name: "What the edge forwarded" });
    assert.equal(
      (await forwarded.getByRole("row", { name: /x-edgeauth-user-email/ }).getByRole("cell").textContent()).trim(),
      user.email,
    );
    assert.equal(
      (await forwarded.getByRole("row", { name: /x-edgeauth-auth/ }).getByRole("cell").textContent()).trim(),
      "session",
    );
    await screenshot(page, "app-page-desktop");
  } finally {
    await close();
  }
});

test("the verification link mailed at sign-up opens the verify page, and the account shows the address verified", async () => {
  const [mail] = await mailTo(user.email, { subject: /^Verify your email/ });
  const link = linkIn(mail, "/verify-email");
  const { page, close } = await fresh();
  try {
    await page.goto(link);
    assert.equal(new URL(page.url()).pathname, "/auth/verify-email", `landed on ${page.url()}`);
    assert.equal(await heading(page), "Email verified");
    await page.getByText("Your email address is verified.").waitFor();

    // A link whose token was tampered with says so.
    const tampered = new URL(link);
    tampered.searchParams.set("token", `${tampered.searchParams.get("token")}x`);
    await page.goto(tampered.href);
    assert.equal(new URL(page.url()).pathname, "/auth/verify-email");
    assert.equal(await heading(page), "Link not valid");

    await signIn(page, user, { callbackURL: "/auth/account", landing: "/auth/account" });
    const profile = page.getByRole("region", { name: "Profile" });
    await profile.getByText("verified", { exact: true }).waitFor();
  } finally {
    await close();
  }
});

test("signing out from the app; a wrong password shows an inline error and keeps the email; the right one lands back", async () => {
  const { page, close } = await fresh();
  try {
    await signIn(page, user, { callbackURL: "/app/page", landing: "/app/page" });
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL((url) => url.pathname === "/auth/sign-in");
    await page.getByRole("status").getByText("You are signed out.").waitFor();
    await page.goto("/app/page");
    assert.equal(new URL(page.url()).pathname, "/auth/sign-in", "the app still let the signed-out browser in");

    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Password", { exact: true }).fill("not the password at all");
    const posted = page.waitForResponse((r) => r.request().method() === "POST");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    assert.equal((await posted).status(), 401);
    await page.waitForLoadState();
    const password = page.getByLabel("Password", { exact: true });
    assert.equal(await password.getAttribute("aria-invalid"), "true");
    const describedBy = await password.getAttribute("aria-describedby");
    assert.equal((await page.locator(`#${describedBy}`).textContent()).trim(), "Invalid email or password");
    assert.equal(await page.getByLabel("Email").inputValue(), user.email);
    assert.equal(await password.inputValue(), "");

    await password.fill(user.password);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL((url) => url.pathname === "/app/page");
    assert.equal(await heading(page), `Hello, ${user.name}`);
  } finally {
    await close();
  }
});

test("after signing out, the back button shows no account data", async () => {
  const { page, close } = await fresh();
  try {
    await signIn(page, user, { callbackURL: "/auth/account", landing: "/auth/account" });
    const profile = page.getByRole("region", { name: "Profile" });
    assert.equal((await profile.locator("#profile-email").textContent()).includes(user.email), true);
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await page.waitForURL((url) => url.pathname === "/auth/sign-in");
    await page.getByText("You are signed out.").waitFor();

    await page.goBack();
    await page.waitForLoadState();
    assert.notEqual(new URL(page.url()).pathname, "/auth/account", `back showed ${where(page)}`);
    const body = await page.locator("body").innerText();
    assert.ok(!body.includes(user.email), `the email is visible after sign-out:\n${body}`);
    assert.ok(!body.includes(user.name), `the name is visible after sign-out:\n${body}`);
  } finally {
    await close();
  }
});

test("signing in with the keyboard only: Tab, typing and Enter", async () => {
  const { page, close } = await fresh();
  try {
    await page.goto("/auth/sign-in?callbackURL=%2Fapp%2Fpage");
    // From the top of the page, the first Tab reaches the email field.
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "email");
    await page.keyboard.type(user.email);
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "password");
    await page.keyboard.type(user.password);
    await page.keyboard.press("Enter");
    await page.waitForURL((url) => url.pathname === "/app/page");
    assert.equal(await heading(page), `Hello, ${user.name}`);
  } finally {
    await close();
  }
});
