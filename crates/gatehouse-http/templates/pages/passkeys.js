// Gatehouse's pages: passkey buttons. This is the pages' only script; everything else is a form.
// Each button names what it does in `data-passkey` and carries what it needs in data- attributes:
// `register` (data-csrf; the name from #passkey-name), `step-up` (data-csrf), `sign-in` and
// `second-step` (data-next, where to go once signed in). Failures are shown in the element named
// by data-error, in the words the page gave (data-failed, data-cancelled) or the server's detail.
// On the sign-in page, a field with autocomplete "webauthn" also offers the browser's passkeys in
// its autofill (conditional mediation) once a person focuses it, not on every page view.
"use strict";

(() => {
  const supported =
    typeof window.PublicKeyCredential === "function" &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function";

  async function post(path, body, csrf) {
    const headers = { "Content-Type": "application/json" };
    if (csrf) headers["X-CSRF-Token"] = csrf;
    const response = await fetch(path, {
      method: "POST",
      headers,
      credentials: "same-origin",
      body: JSON.stringify(body ?? {}),
    });
    const text = await response.text();
    const json = text ? JSON.parse(text) : {};
    if (!response.ok) throw Object.assign(new Error(json.detail || response.statusText), { problem: json });
    return json;
  }

  // The autofill request waiting in the background, if any: a button's request replaces it.
  let pending = null;

  async function assertion(conditional) {
    pending?.abort();
    pending = new AbortController();
    const options = await post("/v1/passkeys/authenticate/start");
    const credential = await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options),
      signal: pending.signal,
      ...(conditional ? { mediation: "conditional" } : {}),
    });
    return credential.toJSON();
  }

  function show(button, failure) {
    const error = document.getElementById(button.dataset.error);
    if (!error) return;
    const cancelled = failure.name === "NotAllowedError" || failure.name === "AbortError";
    error.textContent = cancelled ? button.dataset.cancelled : failure.problem?.detail || button.dataset.failed;
    error.hidden = false;
  }

  const actions = {
    async register(button) {
      const csrf = button.dataset.csrf;
      const options = await post("/v1/me/passkeys/register/start", {}, csrf);
      const credential = await navigator.credentials.create({
        publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options),
      });
      const name = document.getElementById("passkey-name")?.value || null;
      const added = await post("/v1/me/passkeys/register/finish", { name, credential: credential.toJSON() }, csrf);
      if (added.recovery_codes) {
        const section = document.getElementById("passkey-recovery");
        const list = section.querySelector("ol");
        for (const code of added.recovery_codes) {
          const item = document.createElement("li");
          const text = document.createElement("code");
          text.textContent = code;
          item.append(text);
          list.append(item);
        }
        section.hidden = false;
        section.querySelector("a").focus();
      } else {
        window.location.assign("/account?notice=passkey_added");
      }
    },
    async "step-up"(button) {
      await post("/v1/me/reauthenticate", { passkey: await assertion() }, button.dataset.csrf);
      window.location.assign("/account?notice=reauthenticated");
    },
    async "sign-in"(button) {
      await post("/v1/passkeys/authenticate/finish", { credential: await assertion() });
      window.location.assign(button.dataset.next || "/account");
    },
    async "second-step"(button) {
      await post("/v1/login/mfa", { passkey: await assertion() });
      window.location.assign(button.dataset.next || "/account");
    },
  };

  for (const button of document.querySelectorAll("[data-passkey]")) {
    const area = button.closest("[data-passkey-area]") ?? button;
    if (!supported) {
      area.hidden = true;
      continue;
    }
    area.hidden = false;
    const action = actions[button.dataset.passkey];
    if (!action) continue;
    button.addEventListener("click", async () => {
      const error = document.getElementById(button.dataset.error);
      if (error) error.hidden = true;
      button.disabled = true;
      try {
        await action(button);
      } catch (failure) {
        show(button, failure);
      } finally {
        button.disabled = false;
      }
    });
  }

  const field = document.querySelector('input[autocomplete~="webauthn"]');
  const signIn = document.querySelector('[data-passkey="sign-in"]');
  if (supported && field && signIn && typeof PublicKeyCredential.isConditionalMediationAvailable === "function") {
    PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
      if (!available) return;
      field.addEventListener(
        "focus",
        async () => {
          try {
            const credential = await assertion(true);
            await post("/v1/passkeys/authenticate/finish", { credential });
            window.location.assign(signIn.dataset.next || "/account");
          } catch (failure) {
            // Closing the autofill, or a button taking over, is no failure to report.
            if (failure.name !== "AbortError" && failure.name !== "NotAllowedError") show(signIn, failure);
          }
        },
        { once: true },
      );
    });
  }
})();
