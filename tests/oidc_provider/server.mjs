// A real OpenID Provider for kewp's sign-in tests: panva's oidc-provider (OpenID Certified),
// listening on 127.0.0.1 only, on a free port. Its own login page (devInteractions) accepts any
// login name as the account id (`sub`), then asks to authorize the client (its consent page).
//
//   KEWP_TEST_OP_CLIENTS='[{"client_id": ..., "client_secret": ..., "redirect_uris": [...]}]'
//   KEWP_TEST_OP_NAMES='{"sub": "display name", ...}'   (otherwise the name is "Test <sub>")
//   node server.mjs        -> prints "issuer http://127.0.0.1:PORT" once it listens
import http from 'node:http';

import Provider from 'oidc-provider';

const clients = JSON.parse(process.env.KEWP_TEST_OP_CLIENTS || '[]').map((client) => ({
  // "native" lets http://127.0.0.1/... redirect URIs match on any port (RFC 8252): the app
  // under test listens on a port chosen at random.
  application_type: 'native',
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...client,
}));
const names = JSON.parse(process.env.KEWP_TEST_OP_NAMES || '{}');

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients,
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
    scopes: ['openid', 'profile', 'email'],
    pkce: { required: () => true },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return { sub: id, name: names[id] ?? `Test ${id}`, email: `${id}@example.org`, email_verified: true };
        },
      };
    },
    cookies: { keys: ['kewp-test-op-cookie-key-not-a-secret'] },
  });
  provider.proxy = false;
  server.on('request', provider.callback());
  console.log(`issuer ${issuer}`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
