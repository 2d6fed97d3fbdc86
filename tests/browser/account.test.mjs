// The account page: renaming, changing the email address through its mailed link, changing
// the password while signing out the other devices,
// ending one session, signing out everywhere, deleting the account. Each flow has its own
// user; "another device" is a second browser context signed in as the same user, and the
// edge must refuse it within a second of the action (well inside SESSION_CACHE_TTL, so it
// is the edge being told, not its cache running out).
import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  closeBrowser,
  createUser,
  eventually,
  fresh,
  heading,
  linkIn,
  mailTo,
  refusedWithin,
  uniqueEmail,
  SESSION_CACHE_TTL,
  signIn,
} from "./lib.mjs";

after(closeBrowser);

/** Two signed-in devices of a new user: `b` on the app page, then `a` on its account page. */
async function twoDevices(tag) {
  const user = await createUser(tag, `Account ${tag}`);
  const a = await fresh();
  const b = await fresh();
  await signIn(b.page, user, { callbackURL: "/app/page", landing: "/app/page" });
  // The edge has b's session cached now.
  assert.equal(await heading(b.page), `Hello, ${user.name}`);
  await signIn(a.page, user, { callbackURL: "/auth/account", landing: "/auth/account" });
  const close = async () => {
    await a.close();
    await b.close();
  };
  return { user, a: a.page, b: b.page, close };
}

test("renaming shows the new name on the account page, and the app greets it", async () => {
  const user = await createUser("rename", "Old Name");
  const { page, close } = await fresh();
  try {
    await signIn(page, user, { callbackURL: "/app/page", landing: "/app/page" });
    assert.equal(await heading(page), "Hello, Old Name");
    await page.goto("/auth/account");
    assert.equal(await heading(page), "Your account");
    const profile = page.getByRole("region", { name: "Profile" });
    assert.equal((await profile.locator("#profile-name").textContent()).trim(), "Old Name");
    const renamed = "Ada Łovelace & Co";
    await profile.getByLabel("Name").fill(renamed);
    await profile.getByRole("button", { name: "Save name" }).click();
    await page.waitForURL((url) => url.searchParams.get("notice") === "name-saved");
    await page.getByRole("status").getByText("Your name is saved.").waitFor();
    assert.equal((await profile.locator("#profile-name").textContent()).trim(), renamed);

    // The edge caches the session (and so the name) for SESSION_CACHE_TTL seconds.
    await eventually(
      async () => {
        await page.goto("/app/page");
        return (await heading(page)) === `Hello, ${renamed}`;
      },
      { timeout: (SESSION_CACHE_TTL + 3) * 1000, interval: 250, message: "the app greeting the new name" },
    );
  } finally {
    await close();
  }
});

test("changing the password with 'Sign out my other sessions' ends the other device at the edge at once", async () => {
  const { user, a, b, close } = await twoDevices("change");
  try {
    const section = a.getByRole("region", { name: "Password" });
    await section.getByLabel("Password", { exact: true }).fill(user.password);
    await section.getByLabel("New password").fill("another long passphrase 9");
    await section.getByLabel("Sign out my other sessions").check();
    await section.getByRole("button", { name: "Change password" }).click();
    await a.waitForURL((url) => url.searchParams.get("notice") === "password-changed");
    await a.getByRole("status").getByText("Your password is changed.").waitFor();

    await refusedWithin(b, 1000);
    // This device stays signed in.
    await a.goto("/app/page");
    assert.equal(await heading(a), `Hello, ${user.name}`);
  } finally {
    await close();
  }
});

test("ending one session from the list signs that device out at the edge at once", async () => {
  const { user, a, b, close } = await twoDevices("end");
  try {
    const sessions = a.getByRole("region", { name: "Sessions" });
    assert.equal(await sessions.getByRole("listitem").count(), 2);
    await sessions.getByText("this device").waitFor();
    const end = sessions.getByRole("button", { name: /^End session/ });
    assert.equal(await end.count(), 1, "one other session to end");
    await end.click();
    await a.waitForURL((url) => url.searchParams.get("notice") === "session-ended");
    await a.getByRole("status").getByText("The session is ended.").waitFor();
    assert.equal(await sessions.getByRole("listitem").count(), 1);

    await refusedWithin(b, 1000);
    await a.goto("/app/page");
    assert.equal(await heading(a), `Hello, ${user.name}`);
  } finally {
    await close();
  }
});

test("'Sign out everywhere' signs out this device and the other one", async () => {
  const { a, b, close } = await twoDevices("everywhere");
  try {
    await a.getByRole("button", { name: "Sign out everywhere" }).click();
    await a.waitForURL((url) => url.pathname === "/auth/sign-in");
    await a.getByRole("status").getByText("You are signed out on every device.").waitFor();
    await refusedWithin(b, 1000);
    await refusedWithin(a, 1000);
  } finally {
    await close();
  }
});

test("deleting the account signs every device out, and the account can no longer sign in", async () => {
  const { user, a, b, close } = await twoDevices("delete");
  try {
    const section = a.getByRole("region", { name: "Delete account" });
    await section.getByLabel("Password").fill(user.password);
    await section.getByRole("button", { name: "Delete account" }).click();
    await a.waitForURL((url) => url.pathname === "/auth/sign-in");
    await a.getByRole("status").getByText("Your account is deleted.").waitFor();
    await refusedWithin(b, 1000);

    await a.getByLabel("Email").fill(user.email);
    await a.getByLabel("Password", { exact: true }).fill(user.password);
    await a.getByRole("button", { name: "Sign in", exact: true }).click();
    await a.getByText("Invalid email or password").waitFor();
    assert.equal(new URL(a.url()).pathname, "/auth/sign-in");
  } finally {
    await close();
  }
});

test("changing the email waits for the mailed link, then shows the new address", async () => {
  const user = await createUser("email", "Email Changer");
  const { page, close } = await fresh();
  try {
    await signIn(page, user, { callbackURL: "/auth/account", landing: "/auth/account" });
    const section = page.getByRole("region", { name: "Email address" });
    const profile = page.getByRole("region", { name: "Profile" });
    // A taken address is refused next to the field, with what was typed kept.
    const other = await createUser("email-taken", "Someone Else");
    await section.getByLabel("Email").fill(other.email);
    await section.getByRole("button", { name: "Change email" }).click();
    await section.getByText("User already exists").waitFor();
    assert.equal(await section.getByLabel("Email").inputValue(), other.email);

    const next = uniqueEmail("email-new");
    await section.getByLabel("Email").fill(next);
    await section.getByRole("button", { name: "Change email" }).click();
    await page.waitForURL((url) => url.searchParams.get("notice") === "email-sent");
    await page.getByRole("status").getByText("we sent a link").waitFor();
    // Nothing changes until the link is followed (the account is unverified: the link goes
    // to the new address).
    assert.ok((await profile.locator("#profile-email").textContent()).includes(user.email));
    const [mail] = await mailTo(next, { subject: /Verify your email/ });
    await page.goto(linkIn(mail, "/verify-email"));
    await page.waitForURL((url) => url.pathname === "/auth/verify-email");
    assert.equal(await heading(page), "Email confirmed");
    await page.goto("/auth/account");
    assert.ok((await profile.locator("#profile-email").textContent()).includes(next));
  } finally {
    await close();
  }
});
