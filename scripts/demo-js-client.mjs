// The browser script of the demo application's /js-client page (scripts/demo-upstream.mjs
// bundles it with esbuild): Better Auth's own JS client, pointed at this page's origin (the
// edge), signs in and reads the session.
import { createAuthClient } from "better-auth/client";

const authClient = createAuthClient({ baseURL: window.location.origin });
const form = document.getElementById("js-sign-in");
const status = document.getElementById("js-status");

async function showSession() {
  const { data, error } = await authClient.getSession();
  if (error) {
    status.textContent = `Could not read the session: ${error.message ?? error.status}`;
  } else if (data?.user) {
    status.textContent = `Signed in as ${data.user.email}`;
  } else {
    status.textContent = "Not signed in";
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  status.textContent = "Signing in…";
  const { error } = await authClient.signIn.email({
    email: form.elements.email.value,
    password: form.elements.password.value,
  });
  if (error) {
    status.textContent = `Sign-in failed: ${error.message ?? error.status}`;
    return;
  }
  await showSession();
});

showSession();
