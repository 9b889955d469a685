// The access-token keys: generated once and kept across restarts, published
// in the JWKS, rotated by publishing before signing, or supplied by file.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRemoteJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { tempDir } from '../support/settings.ts';

const USER = { did: 'did:plc:keytestuser000000000000', handle: 'keys.test', pdsUrl: 'http://127.0.0.1:1' };
const started: InProcessAirlock[] = [];
const dirs: Array<{ remove(): void }> = [];

afterEach(async () => {
  for (const server of started.splice(0)) await server.close();
  for (const dir of dirs.splice(0)) dir.remove();
});

async function start(env: Record<string, string>): Promise<InProcessAirlock> {
  const server = await startInProcess(env);
  started.push(server);
  return server;
}

async function jwksOf(server: InProcessAirlock) {
  const response = await fetch(`http://127.0.0.1:${server.httpPort}/.well-known/jwks.json`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('application/jwk-set+json');
  return (await response.json()) as { keys: Array<Record<string, string>> };
}

describe('access-token signing keys', () => {
  it('generates an Ed25519 key on first start, publishes only its public half and keeps it across a restart', async () => {
    const data = tempDir();
    dirs.push(data);
    const env = { AIRLOCK_DATA_DIR: data.path, AIRLOCK_PUBLIC_URL: 'http://airlock.test:1' };
    const first = await start(env);
    const session = await first.auth.sessions.start(USER);
    const header = decodeProtectedHeader(session.accessToken);
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });
    const { keys } = await jwksOf(first);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: header.kid, alg: 'EdDSA', use: 'sig' });
    expect(keys[0]).not.toHaveProperty('d');

    // An outside verifier using only the published JWKS accepts the token.
    const remote = createRemoteJWKSet(new URL(`http://127.0.0.1:${first.httpPort}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(session.accessToken, remote, {
      issuer: 'http://airlock.test:1',
      audience: 'airlock',
      typ: 'at+jwt',
      algorithms: ['EdDSA'],
    });
    expect(payload).toMatchObject({ sub: USER.did, handle: USER.handle, sid: session.sessionId });
    await first.close();
    started.splice(started.indexOf(first), 1);

    const second = await start(env);
    expect((await jwksOf(second)).keys.map((k) => k.kid)).toEqual([header.kid]);
    await expect(second.auth.accessTokens.verify(session.accessToken)).resolves.toMatchObject({
      did: USER.did,
      sessionId: session.sessionId,
    });
  });

  it('rotation publishes the next key before it signs, and the retiring key still verifies', async () => {
    const server = await start({});
    const before = await server.auth.sessions.start(USER);
    const oldKid = decodeProtectedHeader(before.accessToken).kid;

    const next = await server.auth.keys.rotate(60_000);
    const published = (await jwksOf(server)).keys.map((k) => k.kid);
    expect(published).toEqual(expect.arrayContaining([oldKid, next.kid]));
    // Not active yet: the old key still signs.
    const during = await server.auth.sessions.start(USER);
    expect(decodeProtectedHeader(during.accessToken).kid).toBe(oldKid);

    const now = await server.auth.keys.rotate(0);
    const after = await server.auth.sessions.start(USER);
    expect(decodeProtectedHeader(after.accessToken).kid).toBe(now.kid);
    // Tokens of the retiring key keep working until they expire.
    await expect(server.auth.accessTokens.verify(before.accessToken)).resolves.toMatchObject({ sessionId: before.sessionId });
    expect((await jwksOf(server)).keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, now.kid]));
  });

  it('signs with the key from AIRLOCK_SIGNING_KEY_FILE (ES256) and never stores its private half', async () => {
    const data = tempDir();
    dirs.push(data);
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const file = path.join(data.path, 'signing-key.json');
    writeFileSync(file, JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'operator-key-1' }));
    const server = await start({ AIRLOCK_DATA_DIR: path.join(data.path, 'data'), AIRLOCK_SIGNING_KEY_FILE: file });
    const session = await server.auth.sessions.start(USER);
    expect(decodeProtectedHeader(session.accessToken)).toMatchObject({ alg: 'ES256', kid: 'operator-key-1', typ: 'at+jwt' });
    const rows = await server.database.db.selectFrom('signing_keys').selectAll().execute();
    expect(rows.find((r) => r.kid === 'operator-key-1')?.private_jwk).toBe('');
    await expect(server.auth.accessTokens.verify(session.accessToken)).resolves.toMatchObject({ did: USER.did });
  });

  it('refuses a key file that is not an Ed25519 or P-256 private key, naming the setting', async () => {
    const data = tempDir();
    dirs.push(data);
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const file = path.join(data.path, 'rsa.json');
    writeFileSync(file, JSON.stringify(await exportJWK(privateKey)));
    await expect(startInProcess({ AIRLOCK_DATA_DIR: path.join(data.path, 'data'), AIRLOCK_SIGNING_KEY_FILE: file })).rejects.toThrow(
      /AIRLOCK_SIGNING_KEY_FILE.*Ed25519 \(OKP\) or P-256/,
    );
  });
});
