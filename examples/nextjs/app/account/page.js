// A server component: it reads the user itself, so the page never renders for a visitor the proxy
// would not have let through (the proxy is a fast redirect, not the only check).

import { requireAuth } from "@gatehouse/node/next";

export const dynamic = "force-dynamic";

export default async function Account() {
  const { user } = await requireAuth();
  return (
    <main>
      <h1>Your account</h1>
      <p>
        Signed in as <strong>{user.email}</strong>
        {user.email_verified ? "" : " (email not verified yet)"}.
      </p>
    </main>
  );
}
