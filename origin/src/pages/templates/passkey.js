// Passkeys on the hosted pages. WebAuthn is a browser API, so these controls need
// JavaScript: this file, served by the pages under their Content-Security-Policy
// (script-src 'self'). Without it, every other form on the page still works.
//
// Sign-in: a button with data-passkey="sign-in" (data-api: the auth API's path,
// data-landing: where to go after). Account: a form with data-passkey="register".
(() => {
  "use strict";
  const supported =
    typeof window.PublicKeyCredential === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function";

  function fail(root, message) {
    const alert = root.querySelector("[data-passkey-error]");
    if (alert) {
      alert.textContent = message;
      alert.hidden = false;
    }
  }

  async function call(url, init) {
    const answer = await fetch(url, { credentials: "same-origin", ...init });
    const body = await answer.json().catch(() => null);
    if (!answer.ok) {
      throw new Error((body && body.message) || `The server answered ${answer.status}.`);
    }
    return body;
  }

  function post(url, body) {
    return call(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  async function signIn(button) {
    const api = button.dataset.api;
    const options = await call(`${api}/passkey/generate-authenticate-options`);
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    const credential = await navigator.credentials.get({ publicKey });
    await post(`${api}/passkey/verify-authentication`, { response: credential.toJSON() });
    window.location.assign(button.dataset.landing || "/");
  }

  async function register(form) {
    const api = form.dataset.api;
    const name = (new FormData(form).get("passkeyName") || "").toString().trim();
    const query = name ? `?name=${encodeURIComponent(name)}` : "";
    const options = await call(`${api}/passkey/generate-register-options${query}`);
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
    const credential = await navigator.credentials.create({ publicKey });
    await post(`${api}/passkey/verify-registration`, { response: credential.toJSON(), name });
    window.location.assign(form.dataset.done);
  }

  function wire(element, event, action) {
    const root = element.closest("[data-passkey-area]") || document.body;
    root.hidden = false;
    element.addEventListener(event, (e) => {
      e.preventDefault();
      action(element).catch((error) => {
        const message =
          error && error.name === "NotAllowedError"
            ? "The passkey was not used (cancelled or timed out). Try again."
            : `Passkey failed: ${error && error.message ? error.message : error}`;
        fail(root, message);
      });
    });
  }

  if (!supported) return;
  for (const button of document.querySelectorAll('[data-passkey="sign-in"]')) {
    wire(button, "click", signIn);
  }
  for (const form of document.querySelectorAll('form[data-passkey="register"]')) {
    wire(form, "submit", register);
  }
})();
