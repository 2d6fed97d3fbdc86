// Better Auth's own JS client (better-auth/client with genericOAuthClient()) driving a
// server's genericOAuth sign-in, link, list and unlink, through a real OpenID Provider
// (tests/js/oidc-provider.mjs, whose development login and consent pages it submits).
// Prints one JSON object with what the client and the browser saw.
//
//   node tests/js/oauth-client.mjs <server URL> <public base URL> <provider issuer> <login> [social]
//
// With "social", the same through the core client's signIn.social and linkSocial, with the
// server's built-in "google" provider pointed at the provider.
//
// The server believes it is at <public base URL> (BETTER_AUTH_URL): the provider's redirect
// back is rewritten to <server URL>. Node's fetch keeps no cookies, so the script keeps them
// (one jar for the server, one for the provider) and follows no redirect by itself.
import { createAuthClient } from "better-auth/client";
import { genericOAuthClient } from "better-auth/client/plugins";

const [serverURL, publicBase, issuer, login, mode] = process.argv.slice(2);
const social = mode === "social";
const providerId = social ? "google" : "corp";
if (!serverURL || !publicBase || !issuer || !login) {
  console.error("usage: oauth-client.mjs <server URL> <public base URL> <issuer> <login>");
  process.exit(2);
}

// A cookie jar: name → value (paths and expiry ignored; deleted cookies dropped).
const jar = () => new Map();
const keep = (cookies, response) => {
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const at = pair.indexOf("=");
    const name = pair.slice(0, at).trim();
    const value = pair.slice(at + 1);
    if (!value || /max-age=0|expires=thu, 01 jan 1970/i.test(line)) cookies.delete(name);
    else cookies.set(name, value);
  }
};
const cookieHeader = (cookies) => [...cookies].map(([n, v]) => `${n}=${v}`).join("; ");
const send = async (cookies, url, init = {}) => {
  const headers = new Headers(init.headers);
  if (cookies.size) headers.set("cookie", cookieHeader(cookies));
  const response = await fetch(url, { ...init, headers, redirect: "manual" });
  keep(cookies, response);
  return response;
};

const server = jar();
const client = createAuthClient({
  baseURL: serverURL,
  plugins: [genericOAuthClient()],
  fetchOptions: {
    headers: { origin: publicBase },
    customFetchImpl: (url, init) => send(server, url, init),
  },
});

// Through the provider's pages to its redirect back: the callback URL on the server.
const provider = jar();
const throughProvider = async (authorizationURL) => {
  let next = authorizationURL;
  for (let i = 0; i < 12; i += 1) {
    const response = await send(provider, next);
    if (response.status >= 300 && response.status < 400) {
      const location = new URL(response.headers.get("location"), next).href;
      if (location.startsWith(publicBase)) return serverURL + location.slice(publicBase.length);
      next = location;
      continue;
    }
    const html = await response.text();
    const action = new URL(/<form[^>]*action="([^"]+)"/.exec(html)[1].replaceAll("&amp;", "&"), next).href;
    const body = html.includes('name="login"')
      ? new URLSearchParams({ prompt: "login", login, password: "anything" })
      : new URLSearchParams({ prompt: "consent" });
    const posted = await send(provider, action, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
    });
    next = new URL(posted.headers.get("location"), action).href;
  }
  throw new Error("the provider never redirected back");
};
const callback = async (url) => {
  const response = await send(server, await throughProvider(url));
  return { status: response.status, location: response.headers.get("location") };
};

const result = {};
const signIn = social
  ? await client.signIn.social({ provider: providerId, callbackURL: "/dashboard", newUserCallbackURL: "/welcome" })
  : await client.signIn.oauth2({ providerId, callbackURL: "/dashboard", newUserCallbackURL: "/welcome" });
result.signIn = {
  error: signIn.error?.code ?? null,
  redirect: signIn.data?.redirect ?? null,
  urlOnIssuer: Boolean(signIn.data?.url?.startsWith(issuer)),
};
result.callback = await callback(signIn.data.url);
const session = await client.getSession();
result.session = { email: session.data?.user?.email ?? null, verified: session.data?.user?.emailVerified ?? null };
const listed = await client.listAccounts();
result.listAccounts = (listed.data ?? []).map((a) => ({ providerId: a.providerId, accountId: a.accountId, scopes: a.scopes }));
const unlink = await client.unlinkAccount({ providerId });
result.unlinkLast = { status: unlink.error?.status ?? 200, code: unlink.error?.code ?? null };
const link = social
  ? await client.linkSocial({ provider: providerId, callbackURL: "/settings" })
  : await client.oauth2.link({ providerId, callbackURL: "/settings" });
result.link = { error: link.error?.code ?? null, redirect: link.data?.redirect ?? null };
result.linkCallback = link.data?.url ? await callback(link.data.url) : null;
result.accountsAfterLink = ((await client.listAccounts()).data ?? []).length;
console.log(JSON.stringify(result));
