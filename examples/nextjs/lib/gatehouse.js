// Where Gatehouse runs, and the one call this app makes to it.

export const GATEHOUSE_URL = (process.env.GATEHOUSE_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");

/**
 * The signed-in user for these cookies (the `Cookie` header as the browser sent it), or null.
 * Gatehouse's GET /v1/session answers 200 {user, session} or 401; anything else is an outage,
 * which is thrown rather than mistaken for "signed out".
 */
export async function userFor(cookieHeader) {
  if (!cookieHeader) return null;
  const answer = await fetch(`${GATEHOUSE_URL}/v1/session`, {
    headers: { cookie: cookieHeader },
    cache: "no-store",
  });
  if (answer.status === 401) return null;
  if (!answer.ok) throw new Error(`Gatehouse answered ${answer.status} to GET /v1/session`);
  const { user } = await answer.json();
  return user;
}
