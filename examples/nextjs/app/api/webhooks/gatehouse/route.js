// Gatehouse's webhooks, verified with the standardwebhooks package.

import { Webhook, WebhookVerificationError } from "standardwebhooks";

// webhook-id is the same on every retry of one event; a real app records it with its own changes.
const handled = new Set();

export async function POST(request) {
  const secret = process.env.GATEHOUSE_WEBHOOK_SECRET;
  if (!secret) return Response.json({ error: "GATEHOUSE_WEBHOOK_SECRET is not set" }, { status: 503 });
  // The signature covers the exact bytes Gatehouse sent: verify the raw text, not parsed JSON.
  const body = await request.text();
  let event;
  try {
    event = new Webhook(secret).verify(body, Object.fromEntries(request.headers));
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) throw error;
    return Response.json({ error: "invalid signature" }, { status: 400 });
  }
  const id = request.headers.get("webhook-id");
  if (!handled.has(id)) {
    handled.add(id);
    console.log(`webhook ${event.type} (${id})`);
  }
  return new Response(null, { status: 204 });
}
