// Next.js 16's proxy (the file that was `middleware.js` before 16): runs before the pages it
// matches, lets signed-in users through and sends everyone else to Gatehouse's hosted sign-in,
// which brings them back here. During a Gatehouse outage it answers 503, never a sign-in loop.

import { gatehouseProxy } from "@gatehouse/node/next";

export const proxy = gatehouseProxy({ url: process.env.GATEHOUSE_URL });

export const config = { matcher: ["/account/:path*"] };
