// Better Auth's JS client signing up through the edge, then calling a backend behind the edge
// (a protected path) twice: with its session (the bearer plugin's token), for which the edge
// adds a JWT the origin minted (`x-edgeauth-jwt`), and with the JWT plugin's token itself
// (`set-auth-jwt` from get-session) as `Authorization: Bearer`. Prints one JSON object: the
// user, and each call's status and body.
//
//   node tests/js/backend-client.mjs <edge URL> <Origin to send> <email> <protected path>
import { createAuthClient } from "better-auth/client";

const [edgeURL, origin, email, path] = process.argv.slice(2);
if (!edgeURL || !origin || !email || !path) {
  console.error("usage: backend-client.mjs <edge URL> <origin> <email> <protected path>");
  process.exit(2);
}

let token = "";
let jwt = "";
const client = createAuthClient({
  baseURL: `${edgeURL}/api/auth`,
  fetchOptions: {
    headers: { origin },
    auth: { type: "Bearer", token: () => token },
    onSuccess: (ctx) => {
      token = ctx.response.headers.get("set-auth-token") || token;
      jwt = ctx.response.headers.get("set-auth-jwt") || jwt;
    },
  },
});

const signUp = await client.signUp.email({ name: "Backend User", email, password: "correct horse battery staple" });
if (signUp.error) {
  console.error(JSON.stringify(signUp.error));
  process.exit(1);
}
const session = await client.getSession();

const call = async (authorization) => {
  const response = await fetch(`${edgeURL}${path}`, { headers: { authorization } });
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, body };
};

console.log(
  JSON.stringify({
    userId: session.data?.user?.id ?? null,
    sessionId: session.data?.session?.id ?? null,
    gotJwt: jwt.length > 0,
    viaSession: await call(`Bearer ${token}`),
    viaJwt: await call(`Bearer ${jwt}`),
  }),
);
