// Signing-key rotation with two replicas on one PostgreSQL database: the new
// key is published before it signs, and a token signed with it on one
// replica is accepted by the other, which has not reloaded its keys yet.
// And a key file changed in a rolling restart (old and new keys signing at
// once on different replicas) breaks no token.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { call, clientsFor } from '../support/grpc.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { tempDir } from '../support/settings.ts';

let database: TestDatabase;
let a: InProcessAirlock;
let b: InProcessAirlock;

beforeAll(async () => {
  database = await createTestDatabase();
  a = await startInProcess({ AIRLOCK_DATABASE_URL: database.url });
  b = await startInProcess({ AIRLOCK_DATABASE_URL: database.url, AIRLOCK_PUBLIC_URL: a.publicUrl });
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await database?.drop();
});

async function kids(replica: InProcessAirlock): Promise<string[]> {
  const jwks = (await (await fetch(`http://127.0.0.1:${replica.httpPort}/.well-known/jwks.json`)).json()) as {
    keys: Array<{ kid: string }>;
  };
  return jwks.keys.map((k) => k.kid).sort();
}

describe('signing key rotation across replicas', () => {
  it('publish the new key before it signs; the other replica accepts tokens signed with it', async () => {
    const [first] = await kids(a);
    expect(await kids(b)).toEqual([first]);

    const next = await a.auth.keys.rotate(500);
    // Published at once on the rotating replica, not yet signing.
    expect(await kids(a)).toEqual([first, next.kid].sort());
    const before = await a.auth.sessions.start({ did: 'did:plc:rotation', handle: 'rotation.test', pdsUrl: 'http://127.0.0.1:1' });
    expect(decodeProtectedHeader(before.accessToken).kid).toBe(first);

    await new Promise((resolve) => setTimeout(resolve, 600));
    const after = await a.auth.sessions.start({ did: 'did:plc:rotation', handle: 'rotation.test', pdsUrl: 'http://127.0.0.1:1' });
    expect(decodeProtectedHeader(after.accessToken).kid).toBe(next.kid);

    const clients = clientsFor(b.grpcTarget);
    try {
      // B learns of the new key from the unknown kid; the old key still verifies what it signed.
      for (const session of [after, before]) {
        const me = await call(clients.auth, clients.auth.whoAmI, {}, { bearer: session.accessToken });
        expect(me.sessionId).toBe(session.sessionId);
      }
    } finally {
      clients.close();
    }
    expect(await kids(b)).toEqual([first, next.kid].sort());
  });
});

// A rolling restart that changes AIRLOCK_SIGNING_KEY_FILE: for a while A
// signs with the new key and B with the old one. Both keys must be
// published and accepted by every replica, and the old key must outlive
// the last token B signs with it, however long B keeps running.
describe('a signing key file changed in a rolling restart', () => {
  const TTL_MS = 3_000;
  let files: ReturnType<typeof tempDir>;
  let db: TestDatabase;
  const replicas: InProcessAirlock[] = [];

  async function keyFile(name: string): Promise<{ path: string; kid: string }> {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const kid = `${name}-${Date.now()}`;
    const file = path.join(files.path, `${name}.jwk`);
    writeFileSync(file, JSON.stringify({ ...(await exportJWK(privateKey)), kid }));
    return { path: file, kid };
  }

  async function replica(signingKeyFile: string): Promise<InProcessAirlock> {
    const started = await startInProcess({
      AIRLOCK_DATABASE_URL: db.url,
      // One deployment, one issuer, whichever replica signs.
      AIRLOCK_PUBLIC_URL: 'http://airlock.rolling.test',
      AIRLOCK_SIGNING_KEY_FILE: signingKeyFile,
      AIRLOCK_ACCESS_TOKEN_TTL: `${TTL_MS}ms`,
      AIRLOCK_CLOCK_TOLERANCE: '0',
    });
    replicas.push(started);
    return started;
  }

  async function accepts(verifier: InProcessAirlock, token: { accessToken: string; sessionId: string }): Promise<void> {
    const clients = clientsFor(verifier.grpcTarget);
    try {
      expect((await call(clients.auth, clients.auth.whoAmI, {}, { bearer: token.accessToken })).sessionId).toBe(token.sessionId);
    } finally {
      clients.close();
    }
  }

  const issue = (signer: InProcessAirlock) =>
    signer.auth.sessions.start({ did: 'did:plc:rolling', handle: 'rolling.test', pdsUrl: 'http://127.0.0.1:1' });

  beforeAll(async () => {
    files = tempDir();
    db = await createTestDatabase();
  });

  afterAll(async () => {
    for (const r of replicas) await r.close().catch(() => {});
    await db?.drop();
    files?.remove();
  });

  it('publishes both keys on every replica, accepts both everywhere, and keeps the old key while a replica signs with it', async () => {
    const oldKey = await keyFile('old');
    const newKey = await keyFile('new');
    let a = await replica(oldKey.path);
    let b = await replica(oldKey.path);
    expect(await kids(b)).toEqual([oldKey.kid]);

    // A restarts with the new key file; B still runs with the old one.
    await a.close();
    a = await replica(newKey.path);
    const restartedAt = Date.now();
    const fromA = await issue(a);
    expect(decodeProtectedHeader(fromA.accessToken).kid).toBe(newKey.kid);
    // The key A signs with is published by B at once, and the other way round.
    expect(await kids(b)).toEqual([newKey.kid, oldKey.kid].sort());
    expect(await kids(a)).toEqual([newKey.kid, oldKey.kid].sort());
    await accepts(b, fromA);

    // More than a token lifetime after A retired the old key, B still signs
    // with it: its fresh tokens must still be good everywhere.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, restartedAt + TTL_MS + 500 - Date.now())));
    const fromB = await issue(b);
    expect(decodeProtectedHeader(fromB.accessToken).kid).toBe(oldKey.kid);
    await accepts(a, fromB);
    await accepts(b, fromB);
    expect(await kids(a)).toContain(oldKey.kid);

    // B restarts with the new key: nobody signs with the old one any more,
    // yet it verifies the last token B signed with it until that expires.
    const lastOld = await issue(b);
    await b.close();
    b = await replica(newKey.path);
    expect(decodeProtectedHeader((await issue(b)).accessToken).kid).toBe(newKey.kid);
    await accepts(a, lastOld);
    await accepts(b, lastOld);
    const row = await a.database.db
      .selectFrom('signing_keys')
      .select(['expires_at'])
      .where('kid', '=', oldKey.kid)
      .executeTakeFirstOrThrow();
    // Retired (it expires), but not before the last token it signed.
    expect(row.expires_at).not.toBeNull();
    expect(Number(row.expires_at)).toBeGreaterThanOrEqual(lastOld.accessTokenExpiresAt.getTime());
  });
});
