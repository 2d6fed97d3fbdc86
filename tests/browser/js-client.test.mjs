// Better Auth's own JS client (better-auth/client, bundled by the demo application) in the
// browser, pointed at the edge: it signs in and reads the session, and the edge then lets
// the browser into the protected app.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { closeBrowser, createUser, fresh, heading } from "./lib.mjs";

after(closeBrowser);

test("the Better Auth JS client signs in and reads the session in the browser, through the edge", async () => {
  const user = await createUser("jsclient", "Script User");
  const { page, close } = await fresh();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  try {
    await page.goto("/js-client");
    const status = page.getByRole("status");
    await status.getByText("Not signed in").waitFor();
    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Password").fill(user.password);
    await page.getByRole("button", { name: "Sign in with the JS client" }).click();
    await status.getByText(`Signed in as ${user.email}`).waitFor();

    // The session the client made is the browser's: the edge lets it into the app.
    await page.goto("/app/page");
    assert.equal(await heading(page), `Hello, ${user.name}`);
    // And a new page load reads it back through the client.
    await page.goto("/js-client");
    await status.getByText(`Signed in as ${user.email}`).waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
