// The confidential OAuth client (private_key_jwt, ES256) end to end: with a
// public https URL, Airlock serves its client metadata and JWKS, and a real
// PDS fetches them, accepts the pushed request and the token exchange.
//
// The PDS runs in this process; globalThis.fetch is wrapped so that requests
// to https://airlock.example-app.dev/... are answered by the server under
// test's own HTTP listener (what DNS and TLS would do in production).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { JoseKey, oauthClientMetadataSchema } from '@atproto/oauth-client-node';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { decideViaApi, deliverCallback, NAVIGATION_HEADERS, openAuthorizePage, rawRequest } from '../support/consent.ts';
import { clientsFor } from '../support/grpc.ts';
import { awaitLogin, initiateLogin } from '../support/login.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';
import { tempDir } from '../support/settings.ts';

const PUBLIC_URL = 'https://airlock.example-app.dev';
const CLIENT_ID = `${PUBLIC_URL}/oauth/client-metadata.json`;
const originalFetch = globalThis.fetch;
const served: string[] = [];
let localBase = '';

let pds: TestPds;
let account: TestAccount;
let airlock: InProcessAirlock;
let clients: ReturnType<typeof clientsFor>;
const dataDir = tempDir();

/** Our public URL, as the test machine reaches it. */
const local = (url: string) => url.replace(PUBLIC_URL, localBase);

beforeAll(async () => {
  globalThis.fetch = async (input, init) => {
    // Only the URL is read here: a Request's body must reach the real fetch unread.
    const url = input instanceof Request ? input.url : String(input);
    if (url.startsWith(`${PUBLIC_URL}/`)) {
      served.push(new URL(url).pathname);
      return originalFetch(new Request(local(url), new Request(input, init)));
    }
    return originalFetch(input, init);
  };
  pds = await startPds();
  account = await pds.createAccount();
  airlock = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_PUBLIC_URL: PUBLIC_URL, AIRLOCK_DATA_DIR: dataDir.path });
  localBase = `http://127.0.0.1:${airlock.httpPort}`;
  clients = clientsFor(airlock.grpcTarget);
});

afterAll(async () => {
  globalThis.fetch = originalFetch;
  clients?.close();
  await airlock?.close();
  await pds?.stop();
  dataDir.remove();
});

test('the client metadata document meets the ATProto OAuth requirements for a confidential web client', async () => {
  const response = await rawRequest(`${localBase}/oauth/client-metadata.json`);
  expect(response.status).toBe(200);
  expect(response.headers['content-type']).toBe('application/json');
  const metadata = JSON.parse(response.body) as Record<string, unknown>;
  // Parses with the ATProto OAuth types' own schema.
  oauthClientMetadataSchema.parse(metadata);
  expect(metadata).toMatchObject({
    client_id: CLIENT_ID,
    application_type: 'web',
    response_types: ['code'],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    dpop_bound_access_tokens: true,
    jwks_uri: `${PUBLIC_URL}/oauth/jwks.json`,
    redirect_uris: [`${PUBLIC_URL}/oauth/callback`],
  });
  expect(metadata.grant_types).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token']));
  expect(String(metadata.scope).split(' ')).toContain('atproto');
  expect(metadata).not.toHaveProperty('jwks');
  for (const uri of metadata.redirect_uris as string[]) expect(new URL(uri).origin).toBe(PUBLIC_URL);
  expect(new URL(metadata.client_uri as string).origin).toBe(PUBLIC_URL);
});

test('the client JWKS publishes one ES256 public key with a kid and no private part', async () => {
  const response = await rawRequest(`${localBase}/oauth/jwks.json`);
  expect(response.status).toBe(200);
  expect(response.headers['content-type']).toBe('application/json');
  const jwks = JSON.parse(response.body) as { keys: Array<Record<string, unknown>> };
  expect(jwks.keys).toHaveLength(1);
  const [key] = jwks.keys;
  expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
  expect(typeof key!.kid).toBe('string');
  for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(key).not.toHaveProperty(secret);
});

test('a real PDS accepts the confidential client: metadata and JWKS fetched, PAR and token exchange with private_key_jwt', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  expect(started.authorizeUrl.startsWith(`${PUBLIC_URL}/login/`)).toBe(true);
  expect(served).toContain('/oauth/client-metadata.json');

  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  const authorize = await openAuthorizePage(local(started.authorizeUrl));
  expect(authorize.url.searchParams.get('client_id')).toBe(CLIENT_ID);
  const callbackUrl = await decideViaApi(authorize, account);
  expect(callbackUrl.startsWith(`${PUBLIC_URL}/oauth/callback?`)).toBe(true);
  const page = await deliverCallback(local(callbackUrl));
  expect(page.status).toBe(200);
  expect(page.body).toContain(`Signed in as @${account.handle}.`);
  // The token endpoint verified our client assertion against the served JWKS.
  expect(served).toContain('/oauth/jwks.json');

  const session = (await stream.next('completed')).session!;
  expect(session.did).toBe(account.did);
  const jwks = createRemoteJWKSet(new URL(`${localBase}/.well-known/jwks.json`));
  const { payload } = await jwtVerify(session.accessToken, jwks, { issuer: PUBLIC_URL });
  expect(payload.sub).toBe(account.did);
});

test('over https, the browser token the link hands out is a __Host- cookie: Secure, HttpOnly, SameSite=Lax, Path=/', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  const opened = await rawRequest(local(started.authorizeUrl), { headers: NAVIGATION_HEADERS });
  expect(opened.status).toBe(302);
  expect(opened.headers['set-cookie']?.[0]).toMatch(
    /^__Host-airlock-browser-[A-Za-z0-9_-]{16}=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax; Secure$/,
  );
});

test('the generated client key is kept: a restart serves the same JWKS', async () => {
  const before = JSON.parse((await rawRequest(`${localBase}/oauth/jwks.json`)).body);
  const again = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_PUBLIC_URL: PUBLIC_URL, AIRLOCK_DATA_DIR: dataDir.path });
  try {
    const after = JSON.parse((await rawRequest(`http://127.0.0.1:${again.httpPort}/oauth/jwks.json`)).body);
    expect(after).toEqual(before);
  } finally {
    await again.stop(1_000);
  }
});

test('a configured client key file is used instead', async () => {
  const dir = tempDir();
  try {
    const key = await JoseKey.generate(['ES256'], 'operator-key-1');
    const file = path.join(dir.path, 'client-key.json');
    writeFileSync(file, JSON.stringify(key.privateJwk));
    const configured = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_PUBLIC_URL: PUBLIC_URL, AIRLOCK_OAUTH_CLIENT_KEY_FILE: file });
    try {
      const jwks = JSON.parse((await rawRequest(`http://127.0.0.1:${configured.httpPort}/oauth/jwks.json`)).body);
      expect(jwks.keys).toHaveLength(1);
      const pub = key.publicJwk as unknown as { x: string; y: string };
      expect(jwks.keys[0]).toMatchObject({ kid: 'operator-key-1', x: pub.x, y: pub.y });
    } finally {
      await configured.close();
    }
  } finally {
    dir.remove();
  }
});

test('without a public https URL there is no metadata document (the loopback client needs none)', async () => {
  const loopback = await startInProcess(pds.airlockEnv());
  try {
    expect((await rawRequest(`http://127.0.0.1:${loopback.httpPort}/oauth/client-metadata.json`)).status).toBe(404);
    expect((await rawRequest(`http://127.0.0.1:${loopback.httpPort}/oauth/jwks.json`)).status).toBe(404);
  } finally {
    await loopback.close();
  }
});
