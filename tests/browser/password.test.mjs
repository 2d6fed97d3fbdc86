// A forgotten password: the reset link comes by mail, the new password works, the old one
// no longer does, and the sessions signed in before the reset end at the edge.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  closeBrowser,
  createUser,
  fresh,
  heading,
  linkIn,
  mailTo,
  refusedWithin,
  signIn,
} from "./lib.mjs";

after(closeBrowser);

test("forgot password: the mailed link, a new password, signing in with it; the old one fails", async () => {
  const user = await createUser("reset");
  const other = await fresh();
  const { page, close } = await fresh();
  try {
    // Another device, signed in before the reset.
    await signIn(other.page, user, { callbackURL: "/app/page", landing: "/app/page" });

    await page.goto("/auth/sign-in");
    await page.getByRole("link", { name: "Forgot your password?" }).click();
    await page.waitForURL((url) => url.pathname === "/auth/forgot-password");
    await page.getByLabel("Email").fill(user.email);
    await page.getByRole("button", { name: "Send reset link" }).click();
    await page.waitForURL((url) => url.search === "?sent=1");
    assert.equal(await heading(page), "Check your email");

    const [mail] = await mailTo(user.email, { subject: /^Reset your/ });
    const link = linkIn(mail, "/reset-password/");
    await page.goto(link);
    assert.equal(new URL(page.url()).pathname, "/auth/reset-password", `landed on ${page.url()}`);
    assert.equal(await heading(page), "Choose a new password");
    const newPassword = "a brand new passphrase 42";
    await page.getByLabel("New password").fill(newPassword);
    await page.getByRole("button", { name: "Reset password" }).click();
    await page.waitForURL((url) => url.pathname === "/auth/sign-in");
    assert.equal(new URL(page.url()).searchParams.get("notice"), "password-reset");
    await page.getByRole("status").getByText("Your password is changed.").waitFor();

    // The other device is signed out, at the edge too.
    await refusedWithin(other.page, 1000);

    // The new password signs in; the old one is refused.
    await signIn(page, { ...user, password: newPassword }, { callbackURL: "/app/page", landing: "/app/page" });
    assert.equal(await heading(page), `Hello, ${user.name}`);
    const { page: again, close: closeAgain } = await fresh();
    try {
      await again.goto("/auth/sign-in");
      await again.getByLabel("Email").fill(user.email);
      await again.getByLabel("Password", { exact: true }).fill(user.password);
      await again.getByRole("button", { name: "Sign in", exact: true }).click();
      await again.getByText("Invalid email or password").waitFor();
      assert.equal(new URL(again.url()).pathname, "/auth/sign-in");

      // The link works once.
      await again.goto(link);
      assert.equal(new URL(again.url()).pathname, "/auth/reset-password");
      assert.equal(await heading(again), "Link not valid");
    } finally {
      await closeAgain();
    }
  } finally {
    await close();
    await other.close();
  }
});
