// Defence in depth on verified tokens, on SQLite and on PostgreSQL: a token
// signed with the server's own key (taken from its real key store) for user
// A, but naming user B's session, is refused TOKEN_INVALID and is not
// remembered by the verified-token cache; A's own token keeps working.
import { Metadata, status } from '@grpc/grpc-js';
import { importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { loadMasterKeys, privateKeyContext } from '../../server/storage/at-rest.ts';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { TEST_MASTER_KEY } from '../support/settings.ts';

const ALICE = { did: 'did:plc:bindingalice000000000000', handle: 'alice.test', pdsUrl: 'http://127.0.0.1:1' };
const BOB = { did: 'did:plc:bindingbob00000000000000', handle: 'bob.test', pdsUrl: 'http://127.0.0.1:1' };

const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const database of databases) await database.drop();
});

async function startOn(kind: 'SQLite' | 'PostgreSQL'): Promise<{ server: InProcessAirlock; masterKey: string }> {
  if (kind === 'SQLite') return { server: await startInProcess(), masterKey: '' };
  const database = await createTestDatabase();
  databases.push(database);
  return { server: await startInProcess({ AIRLOCK_DATABASE_URL: database.url }), masterKey: TEST_MASTER_KEY };
}

/** A token exactly like the server's, signed with its current key read from its database and opened with its master key. */
async function mintWithServerKey(server: InProcessAirlock, masterKey: string, claims: Record<string, unknown>): Promise<string> {
  const row = await server.database.db
    .selectFrom('signing_keys')
    .selectAll()
    .where('purpose', '=', 'access-token')
    .executeTakeFirstOrThrow();
  const sealer = loadMasterKeys({ dataDir: server.dataDir, masterKeyFile: '', masterKey });
  const jwk = JSON.parse(sealer.open(privateKeyContext(row.purpose, row.kid), row.private_jwk)) as JWK;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: server.auth.accessTokens.issuer,
    aud: 'airlock',
    iat: now,
    nbf: now,
    exp: now + 300,
    jti: 'binding-test',
    ...claims,
  })
    .setProtectedHeader({ alg: row.alg, kid: row.kid, typ: 'at+jwt' })
    .sign(await importJWK(jwk, row.alg));
}

describe.each(['SQLite', 'PostgreSQL'] as const)('a token whose sid names another account’s session (%s)', (kind) => {
  it('is refused TOKEN_INVALID and not cached as verified', async () => {
    const { server, masterKey } = await startOn(kind);
    const clients = clientsFor(server.grpcTarget);
    try {
      const alice = await server.auth.sessions.start(ALICE);
      const bob = await server.auth.sessions.start(BOB);
      const whoAmI = (token: string) => {
        const metadata = new Metadata();
        metadata.set('authorization', `Bearer ${token}`);
        return call(clients.auth, clients.auth.whoAmI, {}, { metadata });
      };

      // The genuine token of the same shape passes: the minting is faithful.
      const genuine = await mintWithServerKey(server, masterKey, { sub: ALICE.did, handle: ALICE.handle, sid: alice.sessionId });
      expect((await whoAmI(genuine)).sessionId).toBe(alice.sessionId);

      const cachedBefore = server.auth.accessTokens.cachedTokens;
      const crossed = await mintWithServerKey(server, masterKey, { sub: ALICE.did, handle: ALICE.handle, sid: bob.sessionId });
      for (let attempt = 0; attempt < 2; attempt++) {
        const failure = await grpcFailure(whoAmI(crossed));
        expect(failure).toMatchObject({ code: status.UNAUTHENTICATED, reason: 'TOKEN_INVALID' });
        expect(failure.details).toMatch(/belongs to another account/);
        expect(failure.details).not.toContain(crossed);
      }
      expect(server.auth.accessTokens.cachedTokens).toBe(cachedBefore);

      // Both real sessions are untouched.
      expect((await whoAmI(alice.accessToken)).did).toBe(ALICE.did);
      expect((await whoAmI(bob.accessToken)).did).toBe(BOB.did);
    } finally {
      clients.close();
      await server.close();
    }
  });
});
