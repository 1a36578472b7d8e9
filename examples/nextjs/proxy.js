// Next.js 16's proxy (the file that was `middleware.js` before 16): runs before the pages it
// matches, lets signed-in users through and sends everyone else to the sign-in page.

import { NextResponse } from "next/server";
import { userFor } from "./lib/gatehouse";

export async function proxy(request) {
  const user = await userFor(request.headers.get("cookie"));
  if (user) return NextResponse.next();
  const signIn = new URL("/sign-in", request.url);
  signIn.searchParams.set("next", request.nextUrl.pathname);
  return NextResponse.redirect(signIn);
}

export const config = { matcher: ["/account/:path*"] };
