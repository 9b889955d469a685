// Sessions on PostgreSQL with two replicas sharing one database: rotation
// has exactly one winner across replicas, reuse revokes everywhere, and a
// logout on one replica is refused at once by the other (the revocation
// feed invalidates its cache; its TTL is set far longer here so only the
// feed can explain the result).
import { Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { loginViaApi } from '../support/login.ts';
import { startPds, type TestPds } from '../support/pds.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';

let pds: TestPds;
let database: TestDatabase;
let a: InProcessAirlock;
let b: InProcessAirlock;
let clientsA: ReturnType<typeof clientsFor>;
let clientsB: ReturnType<typeof clientsFor>;

beforeAll(async () => {
  pds = await startPds();
  database = await createTestDatabase();
  const env = { ...pds.airlockEnv(), AIRLOCK_DATABASE_URL: database.url, AIRLOCK_REVOCATION_CACHE_TTL: '10m' };
  a = await startInProcess(env);
  // One deployment, one issuer: both replicas are configured with the same public URL.
  b = await startInProcess({ ...env, AIRLOCK_PUBLIC_URL: a.publicUrl });
  clientsA = clientsFor(a.grpcTarget);
  clientsB = clientsFor(b.grpcTarget);
});

afterAll(async () => {
  clientsA?.close();
  clientsB?.close();
  await a?.close();
  await b?.close();
  await database?.drop();
  await pds?.stop();
});

const bearer = (token: string) => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
};

async function reasonOf(promise: Promise<unknown>) {
  const failure = await grpcFailure(promise);
  expect(failure.code).toBe(status.UNAUTHENTICATED);
  return failure.reason;
}

describe('sessions across PostgreSQL replicas', () => {
  it('replicas share the signing keys: a token from one is accepted by the other', async () => {
    const session = await loginViaApi(a, await pds.createAccount());
    expect((await call(clientsB.auth, clientsB.auth.whoAmI, {}, { metadata: bearer(session.accessToken) })).sessionId).toBe(
      session.sessionId,
    );
  });

  it('concurrent refreshes of one token on both replicas: exactly one wins, the rest are reuse and revoke the session', async () => {
    const session = await loginViaApi(a, await pds.createAccount());
    const attempts = Array.from({ length: 10 }, (_, i) => {
      const clients = i % 2 === 0 ? clientsA : clientsB;
      return call(clients.auth, clients.auth.refreshSession, { refreshToken: session.refreshToken });
    });
    const results = await Promise.allSettled(attempts);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect(await reasonOf(Promise.reject(r.reason))).toBe('SESSION_REVOKED');
    }
    const rows = await a.database.db.selectFrom('refresh_tokens').selectAll().where('session_id', '=', session.sessionId).execute();
    expect(rows.filter((r) => r.rotated_at !== null)).toHaveLength(1);
    expect(await reasonOf(call(clientsB.auth, clientsB.auth.whoAmI, {}, { metadata: bearer(session.accessToken) }))).toBe(
      'SESSION_REVOKED',
    );
  });

  it('a logout on one replica is refused at once on the other, whose cache said the session was alive', async () => {
    const session = await loginViaApi(a, await pds.createAccount());
    // B caches "alive" for ten minutes.
    expect(
      (await call(clientsB.channels, clientsB.channels.getChannelToken, { channelId: 'lobby' }, { metadata: bearer(session.accessToken) }))
        .room,
    ).toBeTruthy();
    await call(clientsA.auth, clientsA.auth.logout, { refreshToken: '' }, { metadata: bearer(session.accessToken) });
    const started = Date.now();
    let reason: string | undefined;
    while (Date.now() - started < 2_000) {
      try {
        await call(clientsB.channels, clientsB.channels.getChannelToken, { channelId: 'lobby' }, { metadata: bearer(session.accessToken) });
      } catch (error) {
        reason = await reasonOf(Promise.reject(error));
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(reason).toBe('SESSION_REVOKED');
  });
});
