// Better Auth's own JS client (better-auth/client with twoFactorClient()) driving a server's
// two-factor plugin: enrolment (enable, then the first TOTP code with the session), a sign-in
// stopped for a second factor and finished by TOTP, by a mailed one-time code and by a backup
// code, reuse of each, new backup codes, turning it off. Prints one JSON object with what the
// client saw, so a test can run it against edgeauth and against Better Auth itself and compare.
//
//   OTP_COMMAND='...' node tests/js/two-factor-client.mjs <server base URL> <Origin to send> <email>
//
// The session travels as the bearer plugin's token (from `set-auth-token`), and the script keeps
// cookies itself as well (Node's fetch keeps none): the pending sign-in is the signed cookie
// `better-auth.two_factor`.
//
// Environment:
// - OTP_COMMAND (required): a shell command, run with the email address as its one argument,
//   that prints the newest two-factor code mailed to that address on stdout (tried again for
//   up to 20 s while it prints nothing or fails). For tests/js/better-auth-server.mjs, whose log
//   has `MAIL {"kind":"two-factor-otp","to":...,"code":...}` lines:
//     OTP_COMMAND='f() { grep -F "MAIL {\"kind\":\"two-factor-otp\",\"to\":\"$1\"," ba.log |
//       tail -n1 | sed -E "s/.*\"code\":\"([0-9]+)\".*/\1/"; }; f'
// - TWO_FACTOR_PACE_MS: when set, sleep that many ms before every /two-factor/ call (a server
//   limiting those paths to 3 per 10 s needs about 3500).
//
// TOTP: the `secret` parameter of the otpauth:// URI is base32; its bytes are the HMAC-SHA1 key
// (for Better Auth, the UTF-8 of a 32-character string), 6 digits, 30-second steps. A server may
// refuse a step that was already used: the script first replays the enrolment code on the next
// sign-in (recorded as `replayedCode`) and, if that is refused, waits for the next step.
import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { createAuthClient } from "better-auth/client";
import { twoFactorClient } from "better-auth/client/plugins";

const [baseURL, origin, email] = process.argv.slice(2);
if (!baseURL || !origin || !email) {
  console.error("usage: OTP_COMMAND=... two-factor-client.mjs <base URL> <origin> <email>");
  process.exit(2);
}
const otpCommand = process.env.OTP_COMMAND;
if (!otpCommand) {
  console.error("OTP_COMMAND is required: a shell command printing the code mailed to its argument");
  process.exit(2);
}
const paceMs = process.env.TWO_FACTOR_PACE_MS ? Number(process.env.TWO_FACTOR_PACE_MS) : 0;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- Cookies: name -> value, for the one server this script talks to. ---
const jar = new Map();
function keepCookies(response) {
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attributes] = line.split(";");
    const at = pair.indexOf("=");
    if (at < 1) continue;
    const name = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    const maxAge = attributes
      .map((a) => a.trim().split("="))
      .find(([key]) => key.toLowerCase() === "max-age");
    const expired = (maxAge && Number(maxAge[1]) <= 0) || value === "";
    if (expired) jar.delete(name);
    else jar.set(name, value);
  }
}
const hasCookie = (suffix) => [...jar.keys()].some((name) => name.endsWith(suffix));

let token = "";
const client = createAuthClient({
  baseURL,
  plugins: [twoFactorClient()],
  fetchOptions: {
    // Node's fetch sends Sec-Fetch-Mode: cors, so sign-in needs an Origin, as in a browser.
    headers: { origin },
    auth: { type: "Bearer", token: () => token },
    onRequest: (context) => {
      if (jar.size > 0) {
        context.headers.set("cookie", [...jar].map(([name, value]) => `${name}=${value}`).join("; "));
      }
      return context;
    },
    onResponse: (context) => {
      keepCookies(context.response);
    },
    onSuccess: (context) => {
      const next = context.response.headers.get("set-auth-token");
      if (next) token = next;
    },
  },
});

// --- TOTP (RFC 6238 over RFC 4226), from the otpauth:// URI. ---
function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const clean = text.replace(/[\s=]/g, "").toUpperCase();
  let bits = 0;
  let value = 0;
  const out = [];
  for (const char of clean) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}
const PERIOD = 30;
const stepNow = () => Math.floor(Date.now() / 1000 / PERIOD);
function totp(key, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const number = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(number % 1_000_000).padStart(6, "0");
}
/** Sleeps until at least `seconds` remain in the current step. */
async function headroom(seconds) {
  const intoStep = (Date.now() / 1000) % PERIOD;
  if (PERIOD - intoStep < seconds) await sleep((PERIOD - intoStep + 1) * 1000);
}
/** Sleeps until a step after `used` has begun (plus a second), and returns the current step. */
async function stepAfter(used) {
  while (stepNow() <= used) {
    await sleep(((used + 1) * PERIOD + 1) * 1000 - Date.now());
  }
  return stepNow();
}

// --- Calls. ---
const pick = (r) => ({ status: r.error?.status ?? 200, code: r.error?.code ?? null });
/** Waits TWO_FACTOR_PACE_MS (if set), then makes the /two-factor/ call. */
async function twoFactorCall(call) {
  if (paceMs > 0) await sleep(paceMs);
  return call();
}
async function signOut() {
  await client.signOut();
  token = "";
}
/** A password sign-in: whether it stopped for a second factor, and what it issued. */
async function signIn() {
  token = "";
  const answer = await client.signIn.email({ email, password });
  return {
    ...pick(answer),
    twoFactorRedirect: answer.data?.twoFactorRedirect === true,
    gotBearer: token.length > 0,
    sessionCookie: hasCookie(".session_token"),
    pendingCookie: hasCookie(".two_factor"),
  };
}
const isOurs = (address) => typeof address === "string" && address.toLowerCase() === email.toLowerCase();
/** Whether getSession answers with this script's account (the bearer token and cookies). */
async function signedIn() {
  const session = await client.getSession();
  return isOurs(session.data?.user?.email);
}
/** A verify call's answer: status, and whether a session now exists for the account. */
async function verified(answer) {
  return {
    ...pick(answer),
    hasToken: Boolean(answer.data?.token),
    userMatches: isOurs(answer.data?.user?.email),
    signedIn: await signedIn(),
  };
}
/** The newest code OTP_COMMAND reports for `email`, tried for up to 20 s. */
async function mailedCode() {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const out = execFileSync("sh", ["-c", `${otpCommand} "$1"`, "otp-command", email], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
      }).trim();
      if (out) return out.split(/\s+/).pop();
    } catch {
      // Not there yet.
    }
    if (Date.now() > deadline) throw new Error(`OTP_COMMAND printed no code for ${email}`);
    await sleep(200);
  }
}

const result = {};
const password = "correct horse battery staple";

// Enrolment: enable with the password, then the first code with the session.
const signUp = await client.signUp.email({ name: "Two Factor", email, password });
result.signUp = { ...pick(signUp), userMatches: isOurs(signUp.data?.user?.email) };

const enable = await twoFactorCall(() => client.twoFactor.enable({ password }));
const totpURI = enable.data?.totpURI ?? "";
const backupCodes = enable.data?.backupCodes ?? [];
result.enable = {
  ...pick(enable),
  totpURI: totpURI.startsWith("otpauth://totp/"),
  backupCodes: backupCodes.length,
};
const uri = new URL(totpURI || "otpauth://totp/none?secret=");
const key = base32Decode(uri.searchParams.get("secret") ?? "");
result.totpParameters = {
  secretBytes: key.length,
  digits: uri.searchParams.get("digits"),
  period: uri.searchParams.get("period"),
  issuer: uri.searchParams.get("issuer"),
  // The label is `<issuer>:<email>`.
  labelMatches: decodeURIComponent(uri.pathname) === `/${uri.searchParams.get("issuer")}:${email}`,
};

const wrongEnable = await twoFactorCall(() => client.twoFactor.enable({ password: "not the right password" }));
result.enableWrongPassword = pick(wrongEnable);

result.beforeConfirm = { twoFactorEnabled: (await client.getSession()).data?.user?.twoFactorEnabled ?? null };

// Confirm early enough in a step that the same step is still current at the next sign-in.
if (paceMs > 0) await sleep(paceMs);
await headroom(12 + (2 * paceMs) / 1000);
const enrolStep = stepNow();
const enrolCode = totp(key, enrolStep);
const confirm = await client.twoFactor.verifyTotp({ code: enrolCode });
result.verifyTotpEnable = { ...pick(confirm), gotBearer: token.length > 0 };
const afterEnable = await client.getSession();
result.afterEnable = {
  signedIn: isOurs(afterEnable.data?.user?.email),
  twoFactorEnabled: afterEnable.data?.user?.twoFactorEnabled ?? null,
};

// A password sign-in now stops for the second factor, with no session issued.
await signOut();
result.signInTotp = await signIn();
result.pendingSession = { signedIn: await signedIn() };

const wrongTotp = await twoFactorCall(() =>
  client.twoFactor.verifyTotp({ code: enrolCode === "000000" ? "111111" : "000000" }),
);
result.wrongTotp = pick(wrongTotp);

// The enrolment code again (still within the server's window): Better Auth takes it, a
// server refusing used steps does not; then a fresh step's code.
let usedStep = enrolStep;
if (stepNow() - enrolStep <= 1) {
  const replay = await twoFactorCall(() => client.twoFactor.verifyTotp({ code: enrolCode }));
  result.replayedCode = pick(replay);
  if (!replay.error) result.verifyTotp = await verified(replay);
} else {
  result.replayedCode = { skipped: true };
}
if (!result.verifyTotp) {
  usedStep = await stepAfter(usedStep);
  const fresh = await twoFactorCall(() => client.twoFactor.verifyTotp({ code: totp(key, stepNow()) }));
  result.verifyTotp = await verified(fresh);
}
result.verifyTotp.pendingCookieLeft = hasCookie(".two_factor");

// A mailed one-time code.
await signOut();
result.signInOtp = await signIn();
result.sendOtp = pick(await twoFactorCall(() => client.twoFactor.sendOtp()));
const otp = await mailedCode();
result.otpShape = /^\d{6}$/.test(otp);
result.verifyOtp = await verified(await twoFactorCall(() => client.twoFactor.verifyOtp({ code: otp })));
// The same code for a new pending sign-in.
await signOut();
await signIn();
result.otpReused = pick(await twoFactorCall(() => client.twoFactor.verifyOtp({ code: otp })));
result.afterOtpReused = { signedIn: await signedIn() };

// A backup code, once.
await signOut();
result.signInBackup = await signIn();
result.verifyBackupCode = await verified(
  await twoFactorCall(() => client.twoFactor.verifyBackupCode({ code: backupCodes[0] ?? "none" })),
);
await signOut();
await signIn();
result.backupCodeReused = pick(
  await twoFactorCall(() => client.twoFactor.verifyBackupCode({ code: backupCodes[0] ?? "none" })),
);
result.afterBackupCodeReused = { signedIn: await signedIn() };

// With a session (the second backup code): new backup codes, then off.
await twoFactorCall(() => client.twoFactor.verifyBackupCode({ code: backupCodes[1] ?? "none" }));
result.sessionForSettings = { signedIn: await signedIn() };
const regenerated = await twoFactorCall(() => client.twoFactor.generateBackupCodes({ password }));
result.generateBackupCodes = {
  ...pick(regenerated),
  count: regenerated.data?.backupCodes?.length ?? null,
  fresh: Boolean(regenerated.data?.backupCodes?.every((code) => !backupCodes.includes(code))),
};
result.disableWrongPassword = pick(
  await twoFactorCall(() => client.twoFactor.disable({ password: "not the right password" })),
);
const disable = await twoFactorCall(() => client.twoFactor.disable({ password }));
result.disable = { ...pick(disable), ok: disable.data?.status ?? null };
result.afterDisable = { twoFactorEnabled: (await client.getSession()).data?.user?.twoFactorEnabled ?? null };

await signOut();
const plain = await signIn();
result.signInAfterDisable = { ...plain, signedIn: await signedIn() };

console.log(JSON.stringify(result));
