// Another site's pages against a signed-in person: forms they are tricked into submitting,
// scripts calling the API, and frames. Served by a small server of this file on two
// origins: `attacker.test` (another site; the browser resolves it to 127.0.0.1) and
// 127.0.0.1 on another port (the same site, another origin: cookies flow, the origin is
// still not trusted).
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import {
  ATTACKER_HOST,
  closeBrowser,
  createUser,
  EDGE,
  eventually,
  fresh,
  heading,
  mailTo,
  signIn,
  uniqueEmail,
  where,
} from "./lib.mjs";

let server;
let origins;
/** Batches of forged forms the attacker's pages serve, by id. */
const batches = new Map();

function escape(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function form({ action, enctype, fields }, target) {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${escape(name)}" value="${escape(value)}">`)
    .join("");
  const into = target ? ` target="${target}"` : "";
  return `<form method="post" action="${escape(action)}" enctype="${escape(enctype)}"${into}>${inputs}</form>`;
}

/**
 * The attacker's pages: `/batch/<id>` (one button that submits every form of the batch, each
 * into a frame of its own), `/form/<id>` (the batch's first form, submitted by the page
 * itself), `/frame?src=`, `/blank`.
 */
function attackerPage(req, res) {
  const url = new URL(req.url, "http://attacker.invalid");
  const [, kind, id] = url.pathname.split("/");
  let body = "<p>Nothing to see here.</p>";
  if (kind === "batch") {
    const forms = batches.get(id).map(
      (spec, i) => `<iframe name="f${i}" title="f${i}" width="40" height="40"></iframe>${form(spec, `f${i}`)}`,
    );
    body = `${forms.join("\n")}
<button type="button" onclick="for (const f of document.forms) f.submit()">Claim your prize</button>`;
  } else if (kind === "form") {
    body = `${form(batches.get(id)[0])}
<button type="button" onclick="document.forms[0].submit()">Claim your prize</button>`;
  } else if (kind === "frame") {
    body = `<iframe src="${escape(url.searchParams.get("src"))}" title="framed" width="600" height="600"></iframe>`;
  }
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(`<!doctype html><html lang="en"><head><title>Prize</title></head><body>${body}</body></html>`);
}

before(async () => {
  server = http.createServer(attackerPage);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  origins = [`http://${ATTACKER_HOST}:${port}`, `http://127.0.0.1:${port}`];
});

after(async () => {
  await closeBrowser();
  await new Promise((resolve) => server.close(resolve));
});

/** Registers a batch of forms; its id. */
function batch(specs) {
  const id = String(batches.size);
  batches.set(id, specs);
  return id;
}

/**
 * Opens the batch page on `origin` in `page`, clicks its button, and waits for the answer to
 * every form (each in its own frame); their `{status, location}`, in the batch's order.
 */
async function submitBatch(page, origin, specs) {
  const id = batch(specs);
  await page.goto(`${origin}/batch/${id}`);
  const statuses = new Array(specs.length);
  const record = (response) => {
    const request = response.request();
    const name = response.frame().name();
    if (request.method() === "POST" && /^f\d+$/.test(name)) {
      const location = response.headers().location ?? "";
      statuses[Number(name.slice(1))] = { status: response.status(), location };
    }
  };
  page.on("response", record);
  try {
    await page.getByRole("button", { name: "Claim your prize" }).click();
    await eventually(() => statuses.filter((s) => s !== undefined).length === specs.length, {
      timeout: 15_000,
      message: `answers to the ${specs.length} forged forms from ${origin}`,
    });
  } finally {
    page.off("response", record);
  }
  return statuses;
}

/** A JSON body a plain form can send: `text/plain` with the JSON split across name=value. */
function jsonAsTextPlain(object) {
  const json = JSON.stringify({ ...object, pad: "" });
  // {"a":"b","pad":""} -> name `{"a":"b","pad":"` and value `"}`: the body is name=value.
  return { [json.slice(0, -2)]: '"}' };
}

test("forged form posts and API calls from other origins are refused and change nothing", async () => {
  const victim = await createUser("victim", "Victim Name");
  const mallory = await createUser("mallory", "Mallory");
  const forgedEmail = uniqueEmail("forged");
  const v = await fresh();
  const other = await fresh();
  const attackerOwn = await fresh();
  try {
    await signIn(other.page, victim, { callbackURL: "/app/page", landing: "/app/page" });
    await signIn(v.page, victim, { callbackURL: "/auth/account", landing: "/auth/account" });
    // The id of the victim's other session, as the list shows it (the best an attacker could know).
    const otherSession = await v.page
      .getByRole("region", { name: "Sessions" })
      .locator('input[name="session"]')
      .getAttribute("value");
    // A form token, valid for the attacker's own browser only.
    await attackerOwn.page.goto("/auth/sign-in");
    const csrf = await attackerOwn.page.locator('input[name="csrf"]').first().getAttribute("value");

    const hacked = "hacked passphrase 1234";
    const pagePosts = [
      ["/auth/sign-in", { email: mallory.email, password: mallory.password }],
      ["/auth/sign-up", { name: "Forged", email: forgedEmail, password: hacked }],
      ["/auth/forgot-password", { email: victim.email }],
      ["/auth/reset-password", { token: "forgedtoken", newPassword: hacked }],
      ["/auth/sign-out", {}],
      ["/auth/account/name", { name: "Hacked" }],
      ["/auth/account/email", { newEmail: uniqueEmail("takeover") }],
      ["/auth/account/password", { currentPassword: victim.password, newPassword: hacked, revokeOtherSessions: "true" }],
      ["/auth/account/sessions/end", { session: otherSession }],
      ["/auth/account/sign-out-everywhere", {}],
      ["/auth/account/delete", { password: victim.password }],
    ];
    const apiPosts = [
      ["/api/auth/sign-in/email", { email: mallory.email, password: mallory.password }],
      ["/api/auth/sign-up/email", { name: "Forged", email: forgedEmail, password: hacked }],
      ["/api/auth/update-user", { name: "Hacked" }],
      ["/api/auth/change-email", { newEmail: uniqueEmail("takeover") }],
      ["/api/auth/change-password", { currentPassword: victim.password, newPassword: hacked, revokeOtherSessions: true }],
      ["/api/auth/revoke-sessions", {}],
      ["/api/auth/revoke-other-sessions", {}],
      ["/api/auth/delete-user", { password: victim.password }],
      // `/api/auth/sign-out`: its own test below.
    ];
    const forms = [
      ...pagePosts.map(([target, fields]) => ({
        label: target,
        action: `${EDGE}${target}`,
        enctype: "application/x-www-form-urlencoded",
        fields: { csrf, ...fields },
      })),
      ...apiPosts.flatMap(([target, fields]) => [
        {
          label: `${target} (form)`,
          action: `${EDGE}${target}`,
          enctype: "application/x-www-form-urlencoded",
          fields: Object.fromEntries(Object.entries(fields).map(([k, val]) => [k, String(val)])),
        },
        {
          label: `${target} (JSON as text/plain)`,
          action: `${EDGE}${target}`,
          enctype: "text/plain",
          fields: jsonAsTextPlain(fields),
        },
      ]),
    ];

    const accepted = [];
    for (const origin of origins) {
      // What a person sees when a forged form is submitted in their window (a sign-in as
      // the attacker: login CSRF).
      const id = batch([forms.find((f) => f.label === "/auth/sign-in")]);
      await v.page.goto(`${origin}/form/${id}`);
      const answered = v.page.waitForResponse((r) => r.request().method() === "POST");
      await v.page.getByRole("button", { name: "Claim your prize" }).click();
      assert.equal((await answered).status(), 403);
      await v.page.waitForURL((url) => url.pathname === "/auth/sign-in");
      assert.equal(await heading(v.page), "Request refused");

      // Every form at once, each into a frame of the attacker's page.
      const answers = await submitBatch(v.page, origin, forms);
      forms.forEach((f, i) => {
        const { status, location } = answers[i];
        // The API may refuse before reading a body the edge is still streaming to it; the
        // browser then sees a 502 from the edge: a refusal all the same. The pages' posts
        // are buffered by the edge and read by the origin before any refusal: always 403.
        if (status === 502 && !f.label.startsWith("/auth/")) {
          console.log(`note: ${origin} -> ${f.label}: 502 from the edge (a refusal, shown as a gateway error)`);
          return;
        }
        const refused = f.label.startsWith("/auth/") ? status === 403 : status >= 400;
        if (!refused) accepted.push(`${origin} -> ${f.label}: ${status} ${location}`);
      });

      // A script on the other origin calling the API with the person's cookies.
      await v.page.goto(`${origin}/blank`);
      const outcomes = await v.page.evaluate(
        (calls) =>
          Promise.all(
            calls.map(async ({ url, body }) => {
              try {
                const r = await fetch(url, {
                  method: "POST",
                  credentials: "include",
                  headers: { "content-type": "application/json" },
                  body,
                });
                return `answered ${r.status}`;
              } catch {
                return "blocked";
              }
            }),
          ),
        apiPosts.map(([target, fields]) => ({ url: `${EDGE}${target}`, body: JSON.stringify(fields) })),
      );
      outcomes.forEach((outcome, i) => {
        if (outcome !== "blocked") accepted.push(`${origin} -> ${apiPosts[i][0]} (fetch): ${outcome}`);
      });
    }
    assert.deepEqual(accepted, [], "requests from another origin were not refused");

    // Nothing changed: the same person, name and email, both sessions alive, the password
    // and the account as they were.
    await v.page.goto("/auth/account");
    assert.equal(new URL(v.page.url()).pathname, "/auth/account", "the victim was signed out");
    const profile = v.page.getByRole("region", { name: "Profile" });
    assert.equal((await profile.locator("#profile-name").textContent()).trim(), victim.name);
    assert.ok((await profile.locator("#profile-email").textContent()).includes(victim.email));
    assert.equal(await v.page.getByRole("region", { name: "Sessions" }).getByRole("listitem").count(), 2);
    await other.page.goto("/app/page");
    assert.equal(await heading(other.page), `Hello, ${victim.name}`, "the other session ended");
    const check = await fresh();
    try {
      await signIn(check.page, victim, { callbackURL: "/app/page", landing: "/app/page" });
      // The forged sign-up made no account.
      await check.page.goto("/auth/sign-in");
      await check.page.getByLabel("Email").fill(forgedEmail);
      await check.page.getByLabel("Password", { exact: true }).fill(hacked);
      await check.page.getByRole("button", { name: "Sign in", exact: true }).click();
      await check.page.getByText("Invalid email or password").waitFor();
    } finally {
      await check.close();
    }
    // No reset, email-change or deletion mail went out (only the sign-up's verification).
    const mail = await mailTo(victim.email);
    assert.deepEqual(
      mail.map((m) => m.subject).filter((s) => !s.startsWith("Verify your email")),
      [],
    );
  } finally {
    await v.close();
    await other.close();
    await attackerOwn.close();
  }
});

test("the sign-in page cannot be framed by another site", async () => {
  const { page, close } = await fresh();
  try {
    // The check below sees what a frame shows: the attacker's own page does show.
    await page.goto(`${origins[0]}/frame?src=${encodeURIComponent(`${origins[0]}/blank`)}`);
    await page.frameLocator('iframe[title="framed"]').getByText("Nothing to see here.").waitFor();
    for (const origin of origins) {
      const framed = page.waitForResponse((r) => new URL(r.url()).pathname === "/auth/sign-in");
      await page.goto(`${origin}/frame?src=${encodeURIComponent(`${EDGE}/auth/sign-in`)}`);
      const response = await framed;
      assert.equal(response.headers()["x-frame-options"], "DENY");
      assert.match(response.headers()["content-security-policy"], /frame-ancestors 'none'/);
      const frame = page.frameLocator('iframe[title="framed"]');
      // Give the frame its chance to render, then check that no form is shown in it.
      await page.waitForLoadState("load");
      assert.equal(await frame.getByLabel("Password").count(), 0, `the sign-in form shows in a frame on ${origin}`);
      assert.equal(await frame.getByRole("button", { name: "Sign in", exact: true }).count(), 0);
    }
  } finally {
    await close();
  }
});

// Better Auth 1.4 allows this: a cross-site form post to /api/auth/sign-out carries no
// cookie (SameSite=Lax), it answers 200 and its Set-Cookie clears the person's session
// cookie, so another site can sign a person out. edgeauth refuses a cookie-less cross-site
// navigation to sign-out as it does form sign-in.
test("another site cannot sign a person out through the API's sign-out", async () => {
  const victim = await createUser("logout", "Logout Victim");
  const { page, close } = await fresh();
  try {
    await signIn(page, victim, { callbackURL: "/app/page", landing: "/app/page" });
    const results = [];
    for (const origin of origins) {
      const id = batch([
        { action: `${EDGE}/api/auth/sign-out`, enctype: "application/x-www-form-urlencoded", fields: {} },
      ]);
      await page.goto(`${origin}/form/${id}`);
      const answered = page.waitForResponse((r) => r.request().method() === "POST");
      await page.getByRole("button", { name: "Claim your prize" }).click();
      const status = (await answered).status();
      await page.goto("/app/page");
      results.push(`${origin}: ${status}, then ${where(page)}`);
    }
    assert.equal(await heading(page), `Hello, ${victim.name}`, results.join("\n"));
  } finally {
    await close();
  }
});
