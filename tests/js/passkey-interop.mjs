// A passkey registered on one server signs in on the other: two servers speaking
// @better-auth/passkey's API (Better Auth with the plugin, edgeauth with EDGEAUTH_PASSKEY=on)
// on one database and one secret. With a software authenticator (./passkey-authenticator.mjs):
//
//   1. on A: sign up (email and password), registration options, the authenticator's
//      attestation, verify-registration, the passkey listed;
//   2. on B, with no session: authentication options (no allow-list: usernameless), the
//      authenticator's assertion, verify-authentication; B's get-session shows the user;
//      the same assertion again is refused; B lists the passkey; a counter no longer ahead is
//      refused;
//   3. on A again: a sign-in with the passkey (its counter, which B moved, still works);
//   4. refusals on B: a broken signature, another origin in clientDataJSON, and an assertion
//      without user verification (Better Auth takes it: its plugin does not require UV;
//      edgeauth refuses it);
//   5. renamed on B, the name seen on A; removed on A, B refuses the passkey.
//
// Prints one JSON object with the statuses and shapes each step saw (a test asserts on it).
//
//   node tests/js/passkey-interop.mjs <server A auth base> <server B auth base> <origin> <email>
//   e.g. node tests/js/passkey-interop.mjs http://127.0.0.1:4000/api/auth \
//          http://127.0.0.1:3000/api/auth http://localhost:3000 ada@example.com
//
// <origin> is the page origin of both ceremonies (clientDataJSON.origin) and the Origin header
// of every request: the servers' expected passkey origin, and trusted by their CSRF checks. The
// RP ID is the one the options name. Node's fetch keeps no cookies: the script keeps one jar
// per server (and a fresh one per sign-in attempt).
import { SoftwareAuthenticator } from "./passkey-authenticator.mjs";
import { isoCBOR } from "@simplewebauthn/server/helpers";

const [baseA, baseB, origin, email] = process.argv.slice(2);
if (!baseA || !baseB || !origin || !email) {
  console.error("usage: passkey-interop.mjs <server A auth base> <server B auth base> <origin> <email>");
  process.exit(2);
}
const PASSWORD = "correct horse battery staple";
const SESSION_COOKIE = /(^|\.)session_token$/;
const CHALLENGE_COOKIE = /better-auth-passkey$/;

/** One browser's cookies and calls to one server. */
class Browser {
  constructor(base) {
    this.base = base.replace(/\/$/, "");
    this.jar = new Map();
  }

  keep(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";");
      const at = pair.indexOf("=");
      if (at < 1) continue;
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      const maxAge = attributes.map((a) => a.trim().split("=")).find(([k]) => k.toLowerCase() === "max-age");
      if ((maxAge && Number(maxAge[1]) <= 0) || value === "") this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  has(pattern) {
    return [...this.jar.keys()].some((name) => pattern.test(name));
  }

  /** `{status, body, setCookies}`; body is the parsed JSON, or the text, or null. */
  async call(method, path, body) {
    const headers = { origin };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.jar.size > 0) headers.cookie = [...this.jar].map(([n, v]) => `${n}=${v}`).join("; ");
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: "manual",
    });
    const setCookies = response.headers.getSetCookie().map((line) => line.split("=")[0]);
    this.keep(response);
    const text = await response.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    return { status: response.status, body: parsed, setCookies };
  }

  async sessionEmail() {
    const session = await this.call("GET", "/get-session");
    return session.body?.user?.email ?? null;
  }
}

const isOurs = (address) => typeof address === "string" && address.toLowerCase() === email.toLowerCase();
const keysOf = (value) => (value && typeof value === "object" ? Object.keys(value).sort() : null);
const base64urlBytes = (text) => Buffer.from(String(text ?? ""), "base64url").length;
const refusal = (answer) => ({
  status: answer.status,
  code: answer.body?.code ?? null,
  message: answer.body?.message ?? null,
});

/** What a standard-base64 `publicKey` column decodes to: a COSE EC2 key's shape. */
function publicKeyShape(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return { standardBase64: false };
  try {
    const key = isoCBOR.decodeFirst(new Uint8Array(Buffer.from(text, "base64")));
    return { standardBase64: true, kty: key.get(1), alg: key.get(3), crv: key.get(-1) };
  } catch (error) {
    return { standardBase64: true, cbor: `${error.message}` };
  }
}

const authenticator = new SoftwareAuthenticator();
const result = {};
const passkeyName = "Interop key";

// --- 1. Registration on A. ---
const a = new Browser(baseA);
const signUp = await a.call("POST", "/sign-up/email", { name: "Passkey Interop", email, password: PASSWORD });
const userId = signUp.body?.user?.id ?? "";
result.signUp = { status: signUp.status, userMatches: isOurs(signUp.body?.user?.email) };

const regOptions = await a.call(
  "GET",
  `/passkey/generate-register-options?name=${encodeURIComponent(email)}&authenticatorAttachment=platform`,
);
const creation = regOptions.body ?? {};
result.registerOptions = {
  status: regOptions.status,
  keys: Object.keys(creation),
  rp: creation.rp ?? null,
  userName: creation.user?.name ?? null,
  userDisplayName: creation.user?.displayName ?? null,
  // The user handle: base64url of the user id (edgeauth), or random (Better Auth).
  userHandleIsUserId: Buffer.from(creation.user?.id ?? "", "base64url").toString("utf8") === userId,
  userHandleBase64url: /^[A-Za-z0-9_-]+$/.test(creation.user?.id ?? ""),
  challengeBytes: base64urlBytes(creation.challenge),
  algorithms: (creation.pubKeyCredParams ?? []).map((p) => p.alg),
  attestation: creation.attestation ?? null,
  authenticatorSelection: creation.authenticatorSelection ?? null,
  excludeCredentials: creation.excludeCredentials?.length ?? null,
  extensions: creation.extensions ?? null,
  timeout: creation.timeout ?? null,
  challengeCookie: a.has(CHALLENGE_COOKIE),
};

let registration = null;
try {
  registration = authenticator.register(creation, { origin });
} catch (error) {
  result.registerCeremony = { error: `${error.name}: ${error.message}` };
}
const credentialId = registration?.id ?? "";
const verifyReg = await a.call("POST", "/passkey/verify-registration", {
  response: registration,
  name: passkeyName,
});
const row = verifyReg.body ?? {};
result.verifyRegistration = {
  status: verifyReg.status,
  keys: keysOf(row),
  name: row.name ?? null,
  userIdMatches: row.userId === userId,
  credentialIdMatches: row.credentialID === credentialId,
  publicKey: publicKeyShape(row.publicKey),
  counter: row.counter ?? null,
  deviceType: row.deviceType ?? null,
  backedUp: row.backedUp ?? null,
  transports: row.transports ?? null,
  aaguid: row.aaguid ?? null,
  challengeCookieLeft: a.has(CHALLENGE_COOKIE),
};
const passkeyId = row.id ?? "";

const listA = await a.call("GET", "/passkey/list-user-passkeys");
result.listOnA = {
  status: listA.status,
  count: Array.isArray(listA.body) ? listA.body.length : null,
  listed: Array.isArray(listA.body) && listA.body.some((p) => p.credentialID === credentialId),
};

// With the registered credential, the next registration's options exclude it.
const againOptions = await a.call("GET", "/passkey/generate-register-options");
result.registerAgainOptions = {
  status: againOptions.status,
  excludes: (againOptions.body?.excludeCredentials ?? []).some((c) => c.id === credentialId),
};

// --- 2. Sign-in on B, usernameless. ---
/** A sign-in with the passkey in a fresh browser on `base`. */
async function passkeySignIn(base, ceremony = {}) {
  const browser = new Browser(base);
  const options = await browser.call("GET", "/passkey/generate-authenticate-options");
  const request = options.body ?? {};
  const challengeCookie = browser.has(CHALLENGE_COOKIE);
  let assertion = null;
  try {
    assertion = authenticator.authenticate(request, { origin, ...ceremony });
  } catch (error) {
    return { browser, options, request, challengeCookie, error: `${error.name}: ${error.message}` };
  }
  const answer = await browser.call("POST", "/passkey/verify-authentication", { response: assertion });
  return { browser, options, request, challengeCookie, assertion, answer };
}

const onB = await passkeySignIn(baseB);
result.authenticateOptions = {
  status: onB.options.status,
  keys: Object.keys(onB.request),
  rpId: onB.request.rpId ?? null,
  userVerification: onB.request.userVerification ?? null,
  allowCredentials: onB.request.allowCredentials ?? null,
  challengeBytes: base64urlBytes(onB.request.challenge),
  timeout: onB.request.timeout ?? null,
  challengeCookie: onB.challengeCookie,
};
if (onB.error) result.authenticateCeremony = { error: onB.error };
const signedInB = onB.answer?.body ?? {};
result.verifyAuthentication = {
  status: onB.answer?.status ?? null,
  keys: keysOf(signedInB),
  // edgeauth: {redirect:false, token, user}; Better Auth: {session}.
  userMatches: isOurs(signedInB.user?.email),
  hasToken: typeof (signedInB.token ?? signedInB.session?.token) === "string",
  sessionUserMatches: (signedInB.user?.id ?? signedInB.session?.userId) === userId,
  sessionCookie: onB.browser.has(SESSION_COOKIE),
  challengeCookieLeft: onB.browser.has(CHALLENGE_COOKIE),
};
result.sessionOnB = { signedIn: isOurs(await onB.browser.sessionEmail()) };

// The same assertion again in the same browser: its challenge was used.
if (onB.assertion) {
  const replay = await onB.browser.call("POST", "/passkey/verify-authentication", { response: onB.assertion });
  result.replaySameChallengeOnB = refusal(replay);
}

const listB = await onB.browser.call("GET", "/passkey/list-user-passkeys");
const seenOnB = Array.isArray(listB.body) ? listB.body.find((p) => p.credentialID === credentialId) : null;
result.listOnB = {
  status: listB.status,
  listed: Boolean(seenOnB),
  name: seenOnB?.name ?? null,
  counter: seenOnB?.counter ?? null,
};
const withSession = await onB.browser.call("GET", "/passkey/generate-authenticate-options");
result.authenticateOptionsWithSession = {
  status: withSession.status,
  allowsTheCredential: (withSession.body?.allowCredentials ?? []).some((c) => c.id === credentialId),
};

// A fresh challenge signed with a counter no longer ahead of the recorded one (a cloned
// authenticator's signature).
const staleCounter = await passkeySignIn(baseB, { counter: authenticator.credential(credentialId)?.counter ?? 0 });
result.staleCounterOnB = {
  ...refusal(staleCounter.answer ?? { status: null }),
  signedIn: isOurs(await staleCounter.browser.sessionEmail()),
};

// --- 3. On A again: the counter B recorded is behind the authenticator's. ---
const onA = await passkeySignIn(baseA);
result.signInOnA = {
  status: onA.answer?.status ?? null,
  error: onA.error ?? null,
  signedIn: isOurs(await onA.browser.sessionEmail()),
};
const listA2 = await a.call("GET", "/passkey/list-user-passkeys");
result.counterOnA = Array.isArray(listA2.body)
  ? (listA2.body.find((p) => p.credentialID === credentialId)?.counter ?? null)
  : null;
result.authenticatorCounter = authenticator.credential(credentialId)?.counter ?? null;

// --- 4. Refusals on B. ---
const tampered = await passkeySignIn(baseB, { tamperSignature: true });
result.tamperedSignatureOnB = {
  ...refusal(tampered.answer ?? { status: null }),
  signedIn: isOurs(await tampered.browser.sessionEmail()),
};
const wrongOrigin = await passkeySignIn(baseB, { origin: "https://attacker.example", checkOrigin: false });
result.wrongOriginOnB = {
  ...refusal(wrongOrigin.answer ?? { status: null }),
  signedIn: isOurs(await wrongOrigin.browser.sessionEmail()),
};
const withoutUv = await passkeySignIn(baseB, { userVerified: false });
result.withoutUserVerificationOnB = {
  ...refusal(withoutUv.answer ?? { status: null }),
  signedIn: isOurs(await withoutUv.browser.sessionEmail()),
};

// --- 5. Renamed on B, seen on A; removed on A, refused on B. ---
const renamed = await onB.browser.call("POST", "/passkey/update-passkey", { id: passkeyId, name: "Renamed on B" });
result.renameOnB = { status: renamed.status, name: renamed.body?.passkey?.name ?? null };
const listA3 = await a.call("GET", "/passkey/list-user-passkeys");
result.nameOnA = Array.isArray(listA3.body)
  ? (listA3.body.find((p) => p.credentialID === credentialId)?.name ?? null)
  : null;
const removed = await a.call("POST", "/passkey/delete-passkey", { id: passkeyId });
result.deleteOnA = { status: removed.status, body: removed.body };
const afterDelete = await passkeySignIn(baseB);
result.signInOnBAfterDelete = {
  ...refusal(afterDelete.answer ?? { status: null }),
  signedIn: isOurs(await afterDelete.browser.sessionEmail()),
};

console.log(JSON.stringify(result));
