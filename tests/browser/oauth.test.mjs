// Signing in with an OpenID Provider from the hosted pages, through the edge: panva's
// oidc-provider (tests/js/oidc-provider.mjs, any login name and password sign in; the login
// name is the email it asserts, verified), configured at the origin as the genericOAuth
// provider OIDC_PROVIDER_ID ("Continue with corp"), its redirect URI on the edge. A new
// person signs up through it; a password account links it from the account page and signs
// in with it; a denied consent, a provider answering markup, and a look-alike password
// account (pre-account takeover) each land on the sign-in page saying what happened. The
// same provider is also the origin's built-in "google" (through its endpoint overrides, the
// profile read from the ID token as Google's is): "Continue with Google" signs a person in.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { closeBrowser, createUser, EDGE, fresh, heading, screenshot, signIn, uniqueEmail } from "./lib.mjs";

after(closeBrowser);

const ISSUER = process.env.OIDC_ISSUER;
const PROVIDER = process.env.OIDC_PROVIDER_ID;
if (!ISSUER || !PROVIDER) {
  throw new Error(
    "OIDC_ISSUER and OIDC_PROVIDER_ID are not set: run the suite through the Rust test " +
      "(cargo test -p edgeauth-tests --test e2e browser::), which starts the provider",
  );
}
const CONTINUE = `Continue with ${PROVIDER}`;

/** A fresh context whose pages on the provider do not wait on its web font (no internet). */
async function freshWithProvider() {
  const opened = await fresh();
  await opened.context.route(/^https:\/\/fonts\.(googleapis|gstatic)\.com\//, (route) => route.abort());
  return opened;
}

/**
 * On the provider's own pages: signs in as `login`, then consents (or cancels on the
 * consent page, with `deny`). The provider then sends the browser back to the edge.
 */
async function throughTheProvider(page, login, { deny = false, shot } = {}) {
  const loginField = page.getByPlaceholder("Enter any login");
  await loginField.waitFor();
  assert.equal(new URL(page.url()).origin, ISSUER, `the provider's login page, not ${page.url()}`);
  if (shot) await screenshot(page, shot);
  await loginField.fill(login);
  await page.getByPlaceholder("and password").fill("anything at all");
  await page.getByRole("button", { name: "Sign-in" }).click();
  const consent = page.getByRole("button", { name: "Continue", exact: true });
  await consent.waitFor();
  assert.equal(new URL(page.url()).origin, ISSUER, `the provider's consent page, not ${page.url()}`);
  if (deny) await page.getByRole("link", { name: "[ Cancel ]" }).click();
  else await consent.click();
}

/** Waits until the browser is back on the edge at `pathname`. */
async function backAt(page, pathname) {
  await page.waitForURL((url) => url.origin === EDGE && url.pathname === pathname);
}

/** Starts "Continue with <provider>" from the sign-in page, to come back to `callbackURL`. */
async function continueWithProvider(page, callbackURL = "/app/page") {
  await page.goto(`/auth/sign-in?callbackURL=${encodeURIComponent(callbackURL)}`);
  await page.getByRole("button", { name: CONTINUE }).click();
}

/**
 * The account page's linked sign-in methods: every configured provider is listed, those not
 * linked with a "Link <provider>" button.
 */
function linkedMethods(methods) {
  return methods.getByRole("listitem").filter({ hasNot: methods.page().getByRole("button", { name: /^Link / }) });
}

/** The text of the page's alert (an error summary). */
async function alertText(page) {
  return (await page.getByRole("alert").first().textContent()).trim();
}

/** Whether the edge lets `page` into the protected app (else it is sent to sign in). */
async function signedIn(page) {
  await page.goto("/app/page");
  return new URL(page.url()).pathname === "/app/page";
}

test("a new person signs up with the provider, the app sees them, and their only sign-in method cannot be unlinked", async () => {
  const { page, close } = await freshWithProvider();
  const login = uniqueEmail("oidc-new");
  try {
    await continueWithProvider(page);
    await throughTheProvider(page, login, { shot: "oauth-provider-login" });
    await backAt(page, "/app/page");
    assert.equal(await heading(page), `Hello, User ${login}`);
    const forwarded = page.getByRole("table", { name: "What the edge forwarded" });
    const cell = (name) => forwarded.getByRole("row", { name }).getByRole("cell").textContent();
    assert.equal((await cell(/x-edgeauth-user-email/)).trim(), login);
    assert.equal((await cell(/x-edgeauth-auth/)).trim(), "session");
    await screenshot(page, "oauth-app-page");

    await page.goto("/auth/account");
    const methods = page.getByRole("region", { name: "Sign-in methods" });
    const items = linkedMethods(methods);
    assert.equal(await items.count(), 1, "the provider only, no password");
    assert.match(await items.first().innerText(), new RegExp(`^${PROVIDER}\\s+Linked `));
    const unlink = methods.getByRole("button", { name: `Unlink ${PROVIDER}` });
    assert.ok(await unlink.isDisabled(), "the only way to sign in offers no unlink");
    // ... and the button looks it (dimmed), not like the pressable red ones.
    assert.ok(Number(await unlink.evaluate((b) => getComputedStyle(b).opacity)) < 1, "a dimmed button");
    await methods.getByText("Your only way to sign in cannot be unlinked.").waitFor();
    await screenshot(page, "oauth-account-methods");
    // No password to confirm with: the sections that would ask for one say so instead.
    const password = page.getByRole("region", { name: "Password" });
    await password.getByText("Your account has no password").waitFor();
    assert.equal(await password.getByRole("button", { name: "Change password" }).count(), 0);
    assert.equal(await password.getByRole("link", { name: "Set a password" }).getAttribute("href"), "/auth/forgot-password");
    const twoFactor = page.getByRole("region", { name: "Two-factor authentication" });
    await twoFactor.getByText("set a password first").waitFor();
    assert.equal(await twoFactor.getByLabel("Current password").count(), 0);
    const deletion = page.getByRole("region", { name: "Delete account" });
    assert.equal(await deletion.getByLabel("Password").count(), 0);
    await deletion.getByText("only a recent sign-in").waitFor();

    // Submitted anyway (the button enabled by hand): refused, with the reason, still linked.
    await unlink.evaluate((button) => button.removeAttribute("disabled"));
    await unlink.click();
    await page.getByRole("alert").getByText("You can't unlink your last account").waitFor();
    assert.equal(await items.count(), 1);
    assert.ok(await signedIn(page));
  } finally {
    await close();
  }
});

test("the built-in Google button signs a new person in through Better Auth's core callback", async () => {
  const { page, close } = await freshWithProvider();
  const login = uniqueEmail("google-new");
  try {
    await page.goto(`/auth/sign-in?callbackURL=${encodeURIComponent("/app/page")}`);
    await page.getByRole("button", { name: "Continue with Google" }).click();
    await throughTheProvider(page, login);
    await backAt(page, "/app/page");
    assert.equal(await heading(page), `Hello, User ${login}`);
    await page.goto("/auth/account");
    const methods = page.getByRole("region", { name: "Sign-in methods" });
    const items = linkedMethods(methods);
    assert.equal(await items.count(), 1, "Google only");
    assert.match(await items.first().innerText(), /^Google\s+Linked /);
    // The generic provider is offered to link, Google is not offered twice.
    await methods.getByRole("button", { name: `Link ${PROVIDER}`, exact: true }).waitFor();
    assert.equal(await methods.getByRole("button", { name: "Link Google", exact: true }).count(), 0);
  } finally {
    await close();
  }
});

test("a password account links the provider from the account page, then signs in with it", async () => {
  const user = await createUser("oidc-link", "Linda Linker");
  const { page, close } = await freshWithProvider();
  try {
    await signIn(page, user, { callbackURL: "/auth/account", landing: "/auth/account" });
    const methods = page.getByRole("region", { name: "Sign-in methods" });
    await methods.getByRole("button", { name: `Link ${PROVIDER}` }).click();
    await throughTheProvider(page, user.email);
    await backAt(page, "/auth/account");
    assert.equal(new URL(page.url()).searchParams.get("notice"), "provider-linked");
    await page.getByRole("status").getByText("The provider is linked: you can sign in with it.").waitFor();
    const items = linkedMethods(methods);
    assert.equal(await items.count(), 2, "the password and the provider");
    assert.ok(await methods.getByRole("button", { name: `Unlink ${PROVIDER}` }).isEnabled());
  } finally {
    await close();
  }

  // Another browser: the provider alone signs this person in, as the same user.
  const other = await freshWithProvider();
  try {
    await continueWithProvider(other.page);
    await throughTheProvider(other.page, user.email);
    await backAt(other.page, "/app/page");
    assert.equal(await heading(other.page), `Hello, ${user.name}`);
  } finally {
    await other.close();
  }
});

test("denying consent at the provider lands on the sign-in page saying so, not signed in", async () => {
  const { page, close } = await freshWithProvider();
  try {
    await continueWithProvider(page);
    await throughTheProvider(page, uniqueEmail("oidc-deny"), { deny: true });
    await backAt(page, "/auth/sign-in");
    const url = new URL(page.url());
    assert.equal(url.searchParams.get("error"), "access_denied");
    assert.equal(url.searchParams.get("callbackURL"), "/app/page");
    assert.equal(await alertText(page), "The sign-in was cancelled at the provider.");
    // The provider's own description stays in the URL, never on the page.
    assert.ok(url.searchParams.get("error_description"), page.url());
    assert.equal(await page.getByText(url.searchParams.get("error_description")).count(), 0);
    await screenshot(page, "oauth-denied");
    assert.equal(await signedIn(page), false);
  } finally {
    await close();
  }
});

test("a provider answering with markup in its error: encoded in the URL, a fixed message on the page", async () => {
  const { page, context, close } = await freshWithProvider();
  const dialogs = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  try {
    // The provider is never reached: its answer is made here, with this browser's state.
    await context.route((url) => url.origin === ISSUER, (route) => route.abort());
    const authorization = page.waitForRequest((request) => request.url().startsWith(`${ISSUER}/`));
    await continueWithProvider(page);
    const state = new URL((await authorization).url()).searchParams.get("state");
    assert.ok(state);
    const error = `<img src=x onerror=alert(1)>&next=https://attacker.test/`;
    const description = "<h2 id=injected>Your account is locked</h2>";
    await page.goto(
      `/api/auth/oauth2/callback/${PROVIDER}?state=${encodeURIComponent(state)}` +
        `&error=${encodeURIComponent(error)}&error_description=${encodeURIComponent(description)}`,
    );
    await backAt(page, "/auth/sign-in");
    const url = new URL(page.url());
    assert.equal(url.searchParams.get("error"), error, "one encoded value");
    assert.equal(url.searchParams.get("next"), null);
    assert.ok(!page.url().includes("<"), page.url());
    assert.equal(await alertText(page), "The sign-in with the provider did not succeed. Try again.");
    assert.equal(await page.locator("#injected, main img").count(), 0);
    assert.equal(await page.getByText("Your account is locked").count(), 0);
    assert.deepEqual(dialogs, []);
    assert.equal(await signedIn(page), false);
  } finally {
    await close();
  }
});

test("someone else's unverified password account with the person's address is not taken over: sign in first", async () => {
  // The attacker registers the victim's address with a password, and never verifies it.
  const { email: victim } = await createUser("oidc-victim", "Attacker");

  const { page, close } = await freshWithProvider();
  try {
    await continueWithProvider(page);
    await throughTheProvider(page, victim);
    await backAt(page, "/auth/sign-in");
    assert.equal(new URL(page.url()).searchParams.get("error"), "account_not_linked");
    assert.equal(
      await alertText(page),
      "An account already uses this email address. Sign in to it another way, then link the " +
        "provider from your account page.",
    );
    await screenshot(page, "oauth-not-linked");
    assert.equal(await signedIn(page), false);
  } finally {
    await close();
  }
});
