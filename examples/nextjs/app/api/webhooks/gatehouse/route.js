// Gatehouse's webhooks, verified with verifyWebhook from @gatehouse/node.

import { WebhookVerificationError, verifyWebhook } from "@gatehouse/node";

// webhook-id is the same on every retry of one event; a real app records it with its own changes.
const handled = new Set();

export async function POST(request) {
  const secret = process.env.GATEHOUSE_WEBHOOK_SECRET;
  if (!secret) return Response.json({ error: "GATEHOUSE_WEBHOOK_SECRET is not set" }, { status: 503 });
  // The signature covers the exact bytes Gatehouse sent: verify the raw text, not parsed JSON.
  let event;
  try {
    event = verifyWebhook(await request.text(), request.headers, secret);
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) throw error;
    return Response.json({ error: "invalid signature" }, { status: 400 });
  }
  if (!handled.has(event.id)) {
    handled.add(event.id);
    console.log(`webhook ${event.type} (${event.id})`);
  }
  return new Response(null, { status: 204 });
}
