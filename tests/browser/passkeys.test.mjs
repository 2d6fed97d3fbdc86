// Passkeys, as a person uses them, with Chromium's virtual authenticator (CDP's WebAuthn
// domain: a platform authenticator with resident keys and user verification, which answers
// without a prompt): added from the account page, listed, renamed, signing in from the
// sign-in page without an email or password (a discoverable credential), removed, and then
// refused. And Better Auth's own passkeyClient (@better-auth/passkey/client, on the demo
// application's /passkey-client page) registering and signing in through the edge.
//
// Everything runs on the edge by name (EDGE_LOCALHOST, http://localhost:<port>): the stack's
// relying party ID is "localhost" and its one passkey origin is that one.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  closeBrowser,
  createUser,
  EDGE_LOCALHOST,
  fresh,
  heading,
  mailTo,
  screenshot,
  signIn,
  where,
} from "./lib.mjs";

after(closeBrowser);

/** A context and page on EDGE_LOCALHOST with a virtual authenticator; its CDP session and id. */
async function withAuthenticator() {
  const session = await fresh({ baseURL: EDGE_LOCALHOST });
  const cdp = await session.context.newCDPSession(session.page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  const credentials = async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
  return { ...session, cdp, authenticatorId, credentials };
}

/** The signed-in user's id, from the API (the page's cookies). */
async function userId(page) {
  const response = await page.request.get("/api/auth/get-session");
  assert.equal(response.status(), 200);
  const body = await response.json();
  assert.ok(body?.user?.id, `no session: ${JSON.stringify(body)}`);
  return body.user.id;
}

/** Signs out from the account page. */
async function signOut(page) {
  await page.goto("/auth/account");
  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await page.waitForURL((url) => url.pathname === "/auth/sign-in");
}

test("a passkey added from the account page signs in without a password; renamed, then removed, it no longer does", async () => {
  const user = await createUser("passkey", "Passkey Person");
  const { page, close, credentials } = await withAuthenticator();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  try {
    await signIn(page, user, { callbackURL: "/auth/account", landing: "/auth/account" });
    const id = await userId(page);
    const section = page.getByRole("region", { name: "Passkeys" });
    await section.getByText("You have no passkeys.").waitFor();

    // Add one: the browser's ceremony runs (the virtual authenticator answers), the page
    // comes back with the notice and the passkey listed.
    await section.getByLabel("Passkey name", { exact: true }).fill("Test laptop");
    await section.getByRole("button", { name: "Add a passkey" }).click();
    await page.waitForURL((url) => url.searchParams.get("notice") === "passkey-added");
    await page.getByRole("status").filter({ hasText: "Your passkey is added." }).waitFor();
    const list = section.getByRole("list", { name: "Your passkeys" });
    const items = list.getByRole("listitem");
    assert.equal(await items.count(), 1);
    // The user is told (a stolen session adding a passkey does not go unnoticed).
    const [added] = await mailTo(user.email, { subject: /passkey was added/ });
    assert.match(added.text, /A passkey was added to /);
    const item = items.first();
    assert.equal((await item.locator("strong").textContent()).trim(), "Test laptop");
    assert.match(await item.textContent(), /Added .+ · never used/);
    await screenshot(page, "passkeys-account");

    // The authenticator holds one discoverable credential for "localhost", whose user
    // handle is the user's id (stable, so a later registration replaces it on the device).
    const held = await credentials();
    assert.equal(held.length, 1, JSON.stringify(held));
    assert.equal(held[0].isResidentCredential, true);
    assert.equal(held[0].rpId, "localhost");
    assert.equal(Buffer.from(held[0].userHandle, "base64").toString("utf8"), id);

    // Rename it.
    await item.getByLabel("New name for Test laptop", { exact: true }).fill("Work laptop");
    await item.getByRole("button", { name: "Rename" }).click();
    await page.waitForURL((url) => url.searchParams.get("notice") === "passkey-renamed");
    await page.getByRole("status").filter({ hasText: "Your passkey is renamed." }).waitFor();
    assert.equal((await list.getByRole("listitem").first().locator("strong").textContent()).trim(), "Work laptop");

    // Signed out, the sign-in page's passkey button signs in with no email typed, and lands
    // where sign-in was going.
    await signOut(page);
    await page.goto(`/auth/sign-in?callbackURL=${encodeURIComponent("/app/page")}`);
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await page.waitForURL((url) => url.pathname === "/app/page");
    assert.equal(await heading(page), `Hello, ${user.name}`);
    assert.equal(await userId(page), id);

    // The account page now shows it used.
    await page.goto("/auth/account");
    const used = section.getByRole("list", { name: "Your passkeys" }).getByRole("listitem").first();
    assert.match(await used.textContent(), /Added .+ · last used /);

    // Remove it: gone from the list.
    await section.getByRole("button", { name: "Remove Work laptop" }).click();
    await page.waitForURL((url) => url.searchParams.get("notice") === "passkey-removed");
    await page.getByRole("status").filter({ hasText: "Your passkey is removed." }).waitFor();
    await section.getByText("You have no passkeys.").waitFor();
    assert.equal(await section.getByRole("list", { name: "Your passkeys" }).count(), 0);
    await mailTo(user.email, { subject: /passkey was removed/ });

    // The device still offers the credential, and the server refuses it: an alert, and the
    // person stays on the sign-in page, signed out.
    await signOut(page);
    assert.equal((await credentials()).length, 1);
    await page.goto("/auth/sign-in");
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await page.getByRole("alert").filter({ hasText: /passkey/i }).waitFor();
    await screenshot(page, "passkeys-refused");
    assert.equal(new URL(page.url()).pathname, "/auth/sign-in", `a removed passkey went to ${where(page)}`);
    const session = await (await page.request.get("/api/auth/get-session")).json();
    assert.equal(session?.user ?? null, null, `signed in after all: ${JSON.stringify(session)}`);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test("Better Auth's passkeyClient registers a passkey and signs in with it, through the edge", async () => {
  const user = await createUser("passkey-client", "Client Passkey");
  const { page, close, credentials } = await withAuthenticator();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  try {
    await signIn(page, user, { callbackURL: "/passkey-client", landing: "/passkey-client" });
    const id = await userId(page);
    await page.waitForFunction(() => window.authClient !== undefined);

    // addPasskey: generate-register-options, the browser's ceremony (simplewebauthn's
    // startRegistration), verify-registration; the answer is the passkey's row.
    const added = await page.evaluate(() => window.authClient.passkey.addPasskey({ name: "Client key" }));
    assert.equal(added.error, null, JSON.stringify(added));
    const row = added.data;
    assert.equal(row.name, "Client key");
    assert.equal(row.userId, id);
    assert.equal(typeof row.credentialID, "string");
    assert.match(row.publicKey, /^[A-Za-z0-9+/]+=*$/, "publicKey is standard base64");
    assert.ok(["singleDevice", "multiDevice"].includes(row.deviceType), row.deviceType);
    assert.equal(typeof row.backedUp, "boolean");
    assert.equal(row.transports, "internal");
    const held = await credentials();
    assert.equal(held.length, 1);
    assert.equal(Buffer.from(held[0].credentialId, "base64").toString("base64url"), row.credentialID);
    // Chromium's virtual authenticator counts the registration as a use.
    assert.equal(row.counter, held[0].signCount);

    const listed = await page.evaluate(() => window.authClient.passkey.listUserPasskeys());
    assert.equal(listed.error, null, JSON.stringify(listed));
    assert.deepEqual(
      listed.data.map((p) => [p.id, p.name, p.credentialID]),
      [[row.id, "Client key", row.credentialID]],
    );

    // Signed out, signIn.passkey(): edgeauth answers {redirect:false, token, user} (Better
    // Auth answers {session}), and the session is the browser's.
    const out = await page.evaluate(() => window.authClient.signOut());
    assert.equal(out.error, null, JSON.stringify(out));
    const signedOut = await page.evaluate(() => window.authClient.getSession());
    assert.equal(signedOut.data, null, JSON.stringify(signedOut));

    const signedIn = await page.evaluate(() => window.authClient.signIn.passkey());
    assert.equal(signedIn.error, null, JSON.stringify(signedIn));
    assert.equal(signedIn.data.redirect, false);
    assert.equal(typeof signedIn.data.token, "string");
    assert.equal(signedIn.data.user.email, user.email);
    const session = await page.evaluate(() => window.authClient.getSession());
    assert.equal(session.data?.user?.id, id, JSON.stringify(session));
    assert.equal(session.data?.session?.token, signedIn.data.token);

    // The edge lets that session into the app.
    await page.goto("/app/page");
    assert.equal(await heading(page), `Hello, ${user.name}`);

    // Removed through the client, the passkey no longer signs in.
    await page.goto("/passkey-client");
    await page.waitForFunction(() => window.authClient !== undefined);
    const removed = await page.evaluate((passkeyId) => window.authClient.passkey.deletePasskey({ id: passkeyId }), row.id);
    assert.equal(removed.error, null, JSON.stringify(removed));
    assert.deepEqual(removed.data, { status: true });
    await page.evaluate(() => window.authClient.signOut());
    const refused = await page.evaluate(() => window.authClient.signIn.passkey());
    assert.equal(refused.data, null, JSON.stringify(refused));
    assert.equal(refused.error?.status, 401, JSON.stringify(refused));
    assert.equal((await page.evaluate(() => window.authClient.getSession())).data, null);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
