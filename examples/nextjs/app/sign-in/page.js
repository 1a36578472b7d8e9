"use client";

// Signs in straight against Gatehouse from the browser: Gatehouse sets its session cookie, which
// the browser then sends to this app too (same host). Gatehouse must list this app's origin in
// server.cors_allowed_origins.

import { useState } from "react";

const GATEHOUSE_URL = process.env.NEXT_PUBLIC_GATEHOUSE_URL ?? "http://127.0.0.1:8080";

export default function SignIn() {
  const [error, setError] = useState(null);

  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const answer = await fetch(`${GATEHOUSE_URL}/v1/login`, {
      method: "POST",
      credentials: "include",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: form.get("email"), password: form.get("password") }),
    });
    if (answer.ok) {
      const next = new URLSearchParams(window.location.search).get("next") ?? "/account";
      window.location.assign(next.startsWith("/") ? next : "/account");
    } else {
      const problem = await answer.json().catch(() => ({}));
      setError(problem.detail ?? `sign-in failed (${answer.status})`);
    }
  }

  return (
    <main>
      <h1>Sign in</h1>
      <form onSubmit={submit}>
        <input name="email" type="email" placeholder="email" required />
        <input name="password" type="password" placeholder="password" required />
        <button type="submit">Sign in</button>
      </form>
      {error && <p role="alert">{error}</p>}
    </main>
  );
}
