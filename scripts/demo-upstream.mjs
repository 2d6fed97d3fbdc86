// A stand-in for your application behind the edge, for `bash scripts/dev.sh` and the browser
// tests (tests/browser/). node:http only, no framework.
//
// In a browser (a request whose Accept names text/html):
//   /            public home page, with links to the protected page and the hosted pages
//   /app, /app/* protected by the edge (PROTECTED_PATHS): greets the signed-in user by name
//                and shows what the edge forwarded (x-edgeauth-user-id, -user-email,
//                -user-name, -session-id, -auth); links to the account page; "Sign out"
//   /js-client   Better Auth's own JS client (better-auth/client, bundled here with esbuild
//                from node_modules, in memory) signing in and reading the session through
//                the edge: the page's origin is the baseURL
//   /passkey-client  (when @better-auth/passkey is installed) Better Auth's client with the
//                passkey plugin's (@better-auth/passkey/client): adds a passkey to the
//                signed-in account and signs in with one, through the edge; the client is
//                `window.authClient` for scripts (the browser tests call it). Passkeys need
//                the site opened by name (http://localhost:8787, not 127.0.0.1) and the
//                origin's EDGEAUTH_PASSKEY=on.
// Any other client (curl, `Accept: application/json`) gets the JSON it always got:
//
//   curl -i http://127.0.0.1:8787/app/hello            -> 401 from the edge
//   (sign up or in through http://127.0.0.1:8787/api/auth/..., then with the cookie)
//   curl -b 'better-auth.session_token=...' http://127.0.0.1:8787/app/hello
//
// "Sign out" on the protected page posts to the auth API (`POST /api/auth/sign-out`, through
// the edge, so the edge forgets the session at once) from a small same-origin script
// (/demo.js), then opens the hosted sign-in page. The API accepts it because the browser
// names the page's origin, the edge's, which the origin trusts; the hosted pages' own
// `POST /auth/sign-out` would also need their per-browser form token, which only the pages
// can put in a form (the account page has its own "Sign out" button).
import { existsSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const port = Number(process.env.DEMO_UPSTREAM_PORT ?? 3001);
// Where the edge serves the hosted pages (the origin's EDGEAUTH_PAGES_PATH).
const pages = process.env.DEMO_PAGES_PATH ?? "/auth";
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(here);
/** Whether the passkey plugin's client is installed (the /passkey-client page needs it). */
const passkeyInstalled = existsSync(path.join(repoRoot, "node_modules/@better-auth/passkey/package.json"));

/** HTML-escapes anything echoed into a page. */
function escape(value) {
  return String(value ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}

/** A header's value as a string, or null. */
function header(req, name) {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : (value ?? null);
}

/** `x-edgeauth-user-name`, percent-decoded (as encodeURIComponent wrote it), or null. */
function userName(req) {
  const raw = header(req, "x-edgeauth-user-name");
  if (!raw) return null;
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

const FORWARDED = [
  "x-edgeauth-user-id",
  "x-edgeauth-user-email",
  "x-edgeauth-user-name",
  "x-edgeauth-session-id",
  "x-edgeauth-auth",
];

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

function layout(title, body, scripts = []) {
  const tags = scripts.map((src) => `<script type="module" src="${escape(src)}"></script>`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · edgeauth demo</title>
<link rel="stylesheet" href="/demo.css">
${tags.join("\n")}
</head>
<body>
<header><a href="/">edgeauth demo</a></header>
<main>
<h1>${escape(title)}</h1>
${body}
</main>
</body>
</html>
`;
}

function homePage() {
  return layout(
    "Welcome",
    `<p>This application sits behind the edgeauth edge. Everything under <code>/app</code> needs
a signed-in user; the edge checks the session and tells the application who it is.</p>
<ul class="links">
<li><a href="/app/page">Open the protected page</a></li>
<li><a href="${escape(pages)}/sign-in">Sign in</a></li>
<li><a href="${escape(pages)}/sign-up">Create an account</a></li>
<li><a href="${escape(pages)}/account">Your account</a></li>
<li><a href="/js-client">Sign in with the Better Auth JS client</a></li>
${passkeyInstalled ? `<li><a href="/passkey-client">Passkeys with the Better Auth JS client</a></li>\n` : ""}</ul>`,
  );
}

function protectedPage(req) {
  const email = header(req, "x-edgeauth-user-email");
  const name = userName(req) || email;
  if (!header(req, "x-edgeauth-user-id")) {
    // Only reachable without the edge in front (or with /app unprotected).
    return layout(
      "Not signed in",
      `<p>No identity reached the application.</p>
<p><a href="${escape(pages)}/sign-in?callbackURL=${encodeURIComponent(req.url)}">Sign in</a></p>`,
    );
  }
  const rows = FORWARDED.map(
    (h) => `<tr><th scope="row"><code>${h}</code></th><td>${escape(header(req, h) ?? "")}</td></tr>`,
  ).join("\n");
  return layout(
    `Hello, ${name ?? "there"}`,
    `<p>You are signed in${email ? ` as <strong>${escape(email)}</strong>` : ""}. This page is
<code>${escape(req.url)}</code>, which the edge protects.</p>
<table>
<caption>What the edge forwarded</caption>
<thead><tr><th scope="col">Header</th><th scope="col">Value</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<nav class="actions" aria-label="Account">
<a href="${escape(pages)}/account">Your account</a>
<form method="post" action="/api/auth/sign-out" data-sign-out="${escape(pages)}/sign-in?notice=signed-out">
<button type="submit">Sign out</button>
</form>
</nav>`,
    ["/demo.js"],
  );
}

function jsClientPage() {
  return layout(
    "Better Auth JS client",
    `<p>This page runs Better Auth's own browser client (<code>better-auth/client</code>) against
this site's origin, so its calls to <code>/api/auth</code> go through the edge.</p>
<form id="js-sign-in">
<div class="field"><label for="js-email">Email</label>
<input id="js-email" name="email" type="email" autocomplete="username" required></div>
<div class="field"><label for="js-password">Password</label>
<input id="js-password" name="password" type="password" autocomplete="current-password" required></div>
<button type="submit">Sign in with the JS client</button>
</form>
<p id="js-status" role="status">Loading the client…</p>`,
    ["/js-client.js"],
  );
}

function passkeyClientPage() {
  return layout(
    "Passkeys with the Better Auth JS client",
    `<p>This page runs Better Auth's browser client with its passkey plugin
(<code>@better-auth/passkey/client</code>) against this site's origin, through the edge. Open it
by name (<code>localhost</code>, not <code>127.0.0.1</code>): a passkey belongs to a domain.</p>
<p>Adding a passkey needs a signed-in account (<a href="${escape(pages)}/sign-in?callbackURL=%2Fpasskey-client">sign in</a>).</p>
<form id="passkey-add">
<div class="field"><label for="passkey-name">Passkey name</label>
<input id="passkey-name" name="name" type="text" autocomplete="off"></div>
<button type="submit">Add a passkey with the JS client</button>
</form>
<p><button type="button" id="passkey-sign-in">Sign in with a passkey with the JS client</button></p>
<p id="passkey-status" role="status">Loading the client…</p>`,
    ["/passkey-client.js"],
  );
}

// The /passkey-client page's script (bundled from this source, as stdin, at start-up):
// Better Auth's client with the passkey plugin, as window.authClient, and the page's buttons.
const PASSKEY_CLIENT_SOURCE = `import { createAuthClient } from "better-auth/client";
import { passkeyClient } from "@better-auth/passkey/client";

const authClient = createAuthClient({ baseURL: window.location.origin, plugins: [passkeyClient()] });
window.authClient = authClient;
const status = document.getElementById("passkey-status");

async function showSession() {
  const { data, error } = await authClient.getSession();
  if (error) status.textContent = "Could not read the session: " + (error.message ?? error.status);
  else status.textContent = data?.user ? "Signed in as " + data.user.email : "Not signed in";
}

document.getElementById("passkey-add").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = event.target.elements.name.value.trim() || undefined;
  status.textContent = "Adding a passkey…";
  const { data, error } = await authClient.passkey.addPasskey({ name });
  if (error) status.textContent = "Adding a passkey failed: " + (error.message ?? error.status);
  else status.textContent = "Added the passkey " + (data?.name ?? "");
});

document.getElementById("passkey-sign-in").addEventListener("click", async () => {
  status.textContent = "Signing in…";
  const { error } = await authClient.signIn.passkey();
  if (error) status.textContent = "Sign-in failed: " + (error.message ?? error.status);
  else await showSession();
});

showSession();
window.dispatchEvent(new Event("auth-client-ready"));
`;

const CSS = `body{font-family:system-ui,sans-serif;margin:0;color:#1f2937;background:#f8fafc}
header{padding:.75rem 1.5rem;background:#312e81}header a{color:#fff;font-weight:600;text-decoration:none}
main{max-width:44rem;margin:2rem auto;padding:0 1.5rem}a{color:#3730a3}
table{border-collapse:collapse;width:100%;margin:1rem 0}caption{text-align:left;font-weight:600;padding:.5rem 0}
th,td{border:1px solid #cbd5e1;padding:.4rem .6rem;text-align:left;word-break:break-all}
.actions{display:flex;gap:1rem;align-items:center}.field{margin:.75rem 0}
label{display:block;font-weight:600;margin-bottom:.25rem}input{font:inherit;padding:.4rem;width:100%;max-width:24rem;box-sizing:border-box}
button{font:inherit;padding:.45rem 1rem;background:#3730a3;color:#fff;border:0;border-radius:.3rem;cursor:pointer}
`;

// Enhances the protected page's "Sign out": the API call through the edge, then sign-in.
const DEMO_JS = `for (const form of document.querySelectorAll("form[data-sign-out]")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await fetch(form.action, { method: "POST", credentials: "same-origin" });
    location.assign(form.dataset.signOut);
  });
}
`;

/** esbuild's browser bundle of `entry` (esbuild's `entryPoints` or `stdin` option). */
async function bundle(entry) {
  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    ...entry,
    absWorkingDir: repoRoot,
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    logLevel: "silent",
  });
  return result.outputFiles[0].text;
}

// The JS client page's script, bundled once with esbuild (from node_modules) on first use.
let jsClientBundle;
function jsClient() {
  jsClientBundle ??= bundle({ entryPoints: [path.join(here, "demo-js-client.mjs")] });
  return jsClientBundle;
}

// The passkey page's script, bundled at start-up (so the first page load does not wait).
let passkeyClientBundle;
function passkeyClient() {
  passkeyClientBundle ??= bundle({
    stdin: { contents: PASSKEY_CLIENT_SOURCE, resolveDir: repoRoot, sourcefile: "passkey-client.mjs", loader: "js" },
  });
  return passkeyClientBundle;
}
if (passkeyInstalled) {
  passkeyClient().catch((error) => {
    passkeyClientBundle = undefined;
    console.error(`bundling the passkey client failed: ${error.message}`);
  });
}

function send(res, status, type, body, extra = {}) {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store", ...extra });
  res.end(body);
}

function sendHtml(res, status, html) {
  send(res, status, "text/html; charset=utf-8", html, {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
  });
}

async function handle(req, res) {
  const { pathname } = new URL(req.url, "http://demo.invalid");
  if (req.method === "GET" && pathname === "/demo.css") {
    return send(res, 200, "text/css; charset=utf-8", CSS);
  }
  if (req.method === "GET" && pathname === "/demo.js") {
    return send(res, 200, "text/javascript; charset=utf-8", DEMO_JS);
  }
  if (req.method === "GET" && pathname === "/js-client.js") {
    try {
      return send(res, 200, "text/javascript; charset=utf-8", await jsClient());
    } catch (error) {
      jsClientBundle = undefined;
      console.error(`bundling the JS client failed: ${error.message}`);
      return send(res, 500, "text/plain; charset=utf-8", "bundling the JS client failed (is `npm ci` done?)\n");
    }
  }
  if (req.method === "GET" && pathname === "/passkey-client.js" && passkeyInstalled) {
    try {
      return send(res, 200, "text/javascript; charset=utf-8", await passkeyClient());
    } catch (error) {
      passkeyClientBundle = undefined;
      console.error(`bundling the passkey client failed: ${error.message}`);
      return send(res, 500, "text/plain; charset=utf-8", "bundling the passkey client failed (is `npm ci` done?)\n");
    }
  }
  const wantsHtml = (header(req, "accept") ?? "").includes("text/html");
  if (!wantsHtml) {
    const identity = {
      userId: req.headers["x-edgeauth-user-id"] ?? null,
      email: req.headers["x-edgeauth-user-email"] ?? null,
      sessionId: req.headers["x-edgeauth-session-id"] ?? null,
      via: req.headers["x-edgeauth-auth"] ?? null,
    };
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ app: "demo upstream", method: req.method, path: req.url, identity }));
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    return sendHtml(res, 405, layout("Method not allowed", "<p>This page only answers GET.</p>"));
  }
  if (pathname === "/") return sendHtml(res, 200, homePage());
  if (pathname === "/app" || pathname.startsWith("/app/")) return sendHtml(res, 200, protectedPage(req));
  if (pathname === "/js-client") return sendHtml(res, 200, jsClientPage());
  if (pathname === "/passkey-client" && passkeyInstalled) return sendHtml(res, 200, passkeyClientPage());
  return sendHtml(res, 404, layout("Not found", `<p>Nothing at <code>${escape(pathname)}</code>.</p><p><a href="/">Home</a></p>`));
}

http
  .createServer((req, res) => {
    handle(req, res).catch((error) => {
      console.error(error);
      if (!res.headersSent) send(res, 500, "text/plain; charset=utf-8", "internal error\n");
      else res.end();
    });
  })
  .listen(port, "127.0.0.1", () => console.log(`demo upstream on http://127.0.0.1:${port}`));
