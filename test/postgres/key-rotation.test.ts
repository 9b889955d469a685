// Signing-key rotation with two replicas on one PostgreSQL database: the new
// key is published before it signs, and a token signed with it on one
// replica is accepted by the other, which has not reloaded its keys yet.
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { call, clientsFor } from '../support/grpc.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';

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
  const jwks = (await (await fetch(`http://127.0.0.1:${replica.httpPort}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
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
