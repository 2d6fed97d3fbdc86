// A real OpenID Provider for the end-to-end tests (started by tests/src/oidc.rs) and for local
// development (`EDGEAUTH_DEV_OIDC=1 bash scripts/dev.sh`): panva's oidc-provider (pinned in
// package.json) with its development login and consent pages (devInteractions: any login name
// and password sign in), signing ID tokens with its development RS256 key.
//
//   OIDC_CLIENTS='[{"client_id":"...","client_secret":"...","redirect_uris":["..."]}]' \
//     node tests/js/oidc-provider.mjs <port>
//
// The issuer is http://127.0.0.1:<port>. An account's `sub` is the login name typed on the
// login page; its claims are `email` (the login name when it contains "@", else
// <login>@example.com), `email_verified: true` and `name`. Clients authenticate with
// client_secret_post unless their metadata says otherwise. With OIDC_ID_TOKEN_CLAIMS=1 the
// ID token carries the scopes' claims too (email, name), as Google's and Microsoft's do, for
// providers read from the ID token alone. Prints "listening" once it accepts connections.
import Provider from "oidc-provider";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: node tests/js/oidc-provider.mjs <port>");
  process.exit(2);
}
const clients = JSON.parse(process.env.OIDC_CLIENTS || "[]").map((client) => ({
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  token_endpoint_auth_method: "client_secret_post",
  ...client,
}));

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients,
  conformIdTokenClaims: process.env.OIDC_ID_TOKEN_CLAIMS !== "1",
  cookies: { keys: ["oidc-provider-test-cookie-key-0123456789"] },
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name"],
  },
  features: { devInteractions: { enabled: true } },
  // PKCE S256 from every client, not only public ones.
  pkce: { required: () => true },
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: id.includes("@") ? id : `${id}@example.com`,
          email_verified: true,
          name: `User ${id}`,
        };
      },
    };
  },
});
provider.on("server_error", (_ctx, error) => console.error("server_error", error));
provider.listen(port, "127.0.0.1", () => console.log("listening"));
