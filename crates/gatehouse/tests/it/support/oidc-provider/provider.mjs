// A real OpenID Connect provider (the certified `oidc-provider` package) on loopback, for tests.
//
// Its interaction route signs in `login_hint` at once and grants what was asked, so an HTTP
// client that keeps cookies drives the whole authorization-code + PKCE flow without a person:
//   login_hint "deny"             -> the person refuses (error=access_denied)
//   a hint containing "unverified" -> email_verified is false
//   any other hint                -> subject = hint, email = hint (or hint@example.com)
//
// Usage: node provider.mjs '{"redirect_uris": [...]}'. Prints {"issuer": "..."} on its first line
// once listening, and exits when its stdin closes (so it never outlives the test process).

import http from 'node:http';
import Provider from 'oidc-provider';

const options = JSON.parse(process.argv[2] ?? '{}');
let handle = (_req, res) => { res.statusCode = 503; res.end(); };
const server = http.createServer((req, res) => handle(req, res));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

function account(hint) {
  const email = hint.includes('@') ? hint : `${hint}@example.com`;
  return { sub: hint, email, email_verified: !hint.includes('unverified'), name: `Test ${hint}` };
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'gatehouse',
    client_secret: 'a-test-client-secret-that-is-long-enough',
    redirect_uris: options.redirect_uris ?? [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    pushedAuthorizationRequests: { enabled: false },
    revocation: { enabled: true },
    userinfo: { enabled: true },
  },
  conformIdTokenClaims: false,
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  scopes: ['openid', 'offline_access', 'email', 'profile'],
  cookies: { keys: ['gatehouse-test-cookie-key'] },
  ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => account(sub) }),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});
provider.proxy = false;

const callback = provider.callback();
handle = async (req, res) => {
  if (!req.url.startsWith('/interaction/')) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    const hint = details.params.login_hint ?? 'someone';
    let result;
    if (hint === 'deny') {
      result = { error: 'access_denied', error_description: 'the person said no' };
    } else if (details.prompt.name === 'login') {
      result = { login: { accountId: hint } };
    } else {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      grant.addOIDCScope(String(details.params.scope));
      grant.addOIDCClaims(['email', 'email_verified', 'name']);
      result = { consent: { grantId: await grant.save() } };
    }
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
  } catch (error) {
    res.statusCode = 500;
    res.end(String(error));
  }
};

process.stdout.write(`${JSON.stringify({ issuer })}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
