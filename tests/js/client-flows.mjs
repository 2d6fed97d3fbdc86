// Better Auth's own JS client (better-auth/client) driving a server: sign-up, sign-in,
// get-session, error codes, the account lifecycle calls, sign-out, account deletion, through
// the bearer plugin's token (Node's fetch keeps
// no cookies). Prints one JSON object with what the client saw, so a test can run it against
// edgeauth and against Better Auth itself and compare.
//
//   node tests/js/client-flows.mjs <server base URL> <Origin to send> <email>
import { createAuthClient } from "better-auth/client";

const [baseURL, origin, email] = process.argv.slice(2);
if (!baseURL || !origin || !email) {
  console.error("usage: client-flows.mjs <base URL> <origin> <email>");
  process.exit(2);
}

let token = "";
const client = createAuthClient({
  baseURL,
  fetchOptions: {
    // Node's fetch sends Sec-Fetch-Mode: cors, so sign-in needs an Origin, as in a browser.
    headers: { origin },
    auth: { type: "Bearer", token: () => token },
    onSuccess: (ctx) => {
      const next = ctx.response.headers.get("set-auth-token");
      if (next) token = next;
    },
  },
});

const result = {};
const password = "correct horse battery staple";

const signUp = await client.signUp.email({ name: "Client Flow", email, password });
result.signUp = { error: signUp.error?.code ?? null, email: signUp.data?.user?.email ?? null };

const again = await client.signUp.email({ name: "Client Flow", email, password });
result.signUpAgain = { status: again.error?.status ?? null, code: again.error?.code ?? null };

const wrong = await client.signIn.email({ email, password: "not the right password" });
result.wrongPassword = { status: wrong.error?.status ?? null, code: wrong.error?.code ?? null };

token = "";
const signIn = await client.signIn.email({ email, password });
result.signIn = { error: signIn.error?.code ?? null, hasToken: Boolean(signIn.data?.token), gotBearer: token.length > 0 };

const session = await client.getSession();
result.getSession = {
  error: session.error?.code ?? null,
  email: session.data?.user?.email ?? null,
  userIdMatches: session.data?.user?.id === signIn.data?.user?.id,
  expiresAtIsDate: session.data?.session?.expiresAt instanceof Date,
};

// The account lifecycle: the same answers from both servers.
const pick = (r) => ({ status: r.error?.status ?? 200, code: r.error?.code ?? null, data: r.data ?? null });
result.sendVerificationEmail = pick(await client.sendVerificationEmail({ email, callbackURL: "/done" }));
result.requestPasswordReset = pick(await client.requestPasswordReset({ email, redirectTo: "/reset" }));
result.requestPasswordResetUnknown = pick(
  await client.requestPasswordReset({ email: `nobody-${email}`, redirectTo: "/reset" }),
);
result.resetPasswordBogusToken = pick(
  await client.resetPassword({ newPassword: "a perfectly fine passphrase", token: "bogusbogusbogusbogus1234" }),
);
result.changeEmail = pick(await client.changeEmail({ newEmail: `changed-${email}`, callbackURL: "/settings" }));
result.deleteUserWrongPassword = pick(await client.deleteUser({ password: "not the right password" }));

const signOut = await client.signOut();
result.signOut = { error: signOut.error?.code ?? null, success: signOut.data?.success ?? null };

const after = await client.getSession();
result.afterSignOut = { data: after.data ?? null, error: after.error?.code ?? null };

token = "";
await client.signIn.email({ email, password });
result.deleteUser = pick(await client.deleteUser({ password }));
result.afterDelete = { data: (await client.getSession()).data ?? null };
const gone = await client.signIn.email({ email, password });
result.signInAfterDelete = { status: gone.error?.status ?? null, code: gone.error?.code ?? null };

console.log(JSON.stringify(result));
