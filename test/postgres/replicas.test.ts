// Three Airlock server processes on one real PostgreSQL database behind one
// public URL, driven by real grpc-js clients, a real PDS (dev-env) and the
// provider's consent API: a login started on A, called back on B and awaited
// on C completes; the replica holding the stream can die; refresh rotation
// is atomic across replicas; tokens and revocations cross replicas.
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RefreshSessionResponse, Session } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { decideViaApi, deliverCallback, openAuthorizePage } from '../support/consent.ts';
import { call, grpcFailure } from '../support/grpc.ts';
import { awaitLogin, initiateLogin } from '../support/login.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { routePublicUrl, startReplica, viaReplica, type Replica } from '../support/replicas.ts';

let pds: TestPds;
let database: TestDatabase;
let a: Replica;
let b: Replica;
let c: Replica;
let account: TestAccount;
let unroute: () => void;
const spare: Replica[] = [];

function replicaEnv(): Record<string, string> {
  return {
    ...pds.airlockEnv(),
    AIRLOCK_LOGIN_RATE_PER_MINUTE: '1000',
    // A long cache TTL: only the revocation feed can make another replica notice a logout quickly.
    AIRLOCK_REVOCATION_CACHE_TTL: '10m',
  };
}

beforeAll(async () => {
  pds = await startPds();
  account = await pds.createAccount();
  database = await createTestDatabase();
  // Started together on an empty database: they migrate and bootstrap keys at the same time.
  [a, b, c] = (await Promise.all(['a', 'b', 'c'].map((name) => startReplica(name, database.url, replicaEnv())))) as [
    Replica,
    Replica,
    Replica,
  ];
  unroute = routePublicUrl(() => [a, b, c].find((r) => r.process.exitCode === null && r.process.signalCode === null)!);
});

afterAll(async () => {
  unroute?.();
  for (const r of [a, b, c, ...spare]) await r?.close().catch(() => {});
  await pds?.stop();
  await database?.drop();
});

/** InitiateLogin on `start`, the user consents; returns the callback URL (not yet delivered) and the login. */
async function startAndConsent(start: Replica) {
  const started = await initiateLogin(start.clients.auth, account.handle);
  expect(started.authorizeUrl.startsWith('https://airlock.example-app.dev/login/')).toBe(true);
  const authorize = await openAuthorizePage(viaReplica(started.authorizeUrl, start));
  const callbackUrl = await decideViaApi(authorize, account);
  expect(callbackUrl.startsWith('https://airlock.example-app.dev/oauth/callback?')).toBe(true);
  return { started, callbackUrl };
}

async function whoAmI(replica: Replica, session: Session) {
  return call(replica.clients.auth, replica.clients.auth.whoAmI, {}, { bearer: session.accessToken });
}

describe('several replicas on PostgreSQL', () => {
  it('start together on an empty database with one shared signing key and one OAuth client key', async () => {
    const jwks = await Promise.all(
      [a, b, c].map(async (r) => (await fetch(`http://127.0.0.1:${r.httpPort}/.well-known/jwks.json`)).json()),
    );
    expect((jwks[0] as { keys: unknown[] }).keys).toHaveLength(1);
    expect(jwks[1]).toEqual(jwks[0]);
    expect(jwks[2]).toEqual(jwks[0]);
    const clientJwks = await Promise.all(
      [a, b, c].map(async (r) => (await fetch(`http://127.0.0.1:${r.httpPort}/oauth/jwks.json`)).json()),
    );
    expect((clientJwks[0] as { keys: unknown[] }).keys).toHaveLength(1);
    expect(clientJwks[1]).toEqual(clientJwks[0]);
    expect(clientJwks[2]).toEqual(clientJwks[0]);
  });

  it('complete a login started on A, called back on B and awaited on C; its token works on every replica', async () => {
    const { started, callbackUrl } = await startAndConsent(a);
    const stream = awaitLogin(c.clients.auth, started.loginId, started.verifier);
    await stream.next('pending');

    const page = await deliverCallback(viaReplica(callbackUrl, b));
    expect(page.status).toBe(200);
    expect(page.body).toContain(`Signed in as @${account.handle}.`);

    const completed = await stream.next('completed', 5_000);
    expect(await stream.end).toEqual({ code: status.OK, details: 'OK' });
    expect(stream.cases()).toEqual(['pending', 'browserOpened', 'completed']);
    const session = completed.session!;
    expect(session.did).toBe(account.did);

    // Issued by B (the callback), accepted by all.
    for (const r of [a, b, c]) {
      const me = await whoAmI(r, session);
      expect(me.did, r.name).toBe(account.did);
      expect(me.sessionId, r.name).toBe(session.sessionId);
    }
    // B's callback log names the login; nothing on A or C finished it.
    expect(b.logs.some((l) => l.msg === 'login finished')).toBe(true);
    expect(c.logs.some((l) => l.msg === 'login finished')).toBe(false);
  });

  it('deliver the result after the replica holding the stream is killed and the client re-attaches elsewhere', async () => {
    const victim = await startReplica('victim', database.url, replicaEnv());
    spare.push(victim);
    const { started, callbackUrl } = await startAndConsent(a);
    const first = awaitLogin(victim.clients.auth, started.loginId, started.verifier);
    await first.next('pending');

    await victim.stop('SIGKILL');
    expect((await first.end).code).toBe(status.UNAVAILABLE);

    // Re-attach on A while the login is still pending; the callback lands on B.
    const again = awaitLogin(a.clients.auth, started.loginId, started.verifier);
    await again.next('pending');
    const page = await deliverCallback(viaReplica(callbackUrl, b));
    expect(page.status).toBe(200);
    const completed = await again.next('completed', 5_000);
    expect(completed.session!.did).toBe(account.did);
    expect(await again.end).toEqual({ code: status.OK, details: 'OK' });

    // A late attach on C gets the stored result at once.
    const late = awaitLogin(c.clients.auth, started.loginId, started.verifier);
    expect((await late.next('completed', 5_000)).session!.sessionId).toBe(completed.session!.sessionId);
  });

  it('let exactly one of two concurrent RefreshSession calls with one token win, on two replicas', async () => {
    for (let round = 0; round < 3; round += 1) {
      const { started, callbackUrl } = await startAndConsent(a);
      const stream = awaitLogin(a.clients.auth, started.loginId, started.verifier);
      await deliverCallback(viaReplica(callbackUrl, a));
      const session = (await stream.next('completed')).session!;

      const attempts = await Promise.allSettled(
        [b, c].map((r) => call(r.clients.auth, r.clients.auth.refreshSession, { refreshToken: session.refreshToken })),
      );
      const won = attempts.filter((x) => x.status === 'fulfilled');
      const lost = attempts.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
      expect(won, `round ${round}`).toHaveLength(1);
      expect(lost).toHaveLength(1);
      const failure = await grpcFailure(Promise.reject(lost[0]!.reason));
      // The loser presented a token that had just been rotated: reuse detection revokes the session.
      expect(failure.code).toBe(status.UNAUTHENTICATED);
      expect(failure.reason).toBe('SESSION_REVOKED');
      const rotated = (won[0] as PromiseFulfilledResult<RefreshSessionResponse>).value.session!;
      expect(rotated.refreshToken).not.toBe(session.refreshToken);
      // And so every token of the session is dead, on every replica.
      expect((await grpcFailure(call(a.clients.auth, a.clients.auth.refreshSession, { refreshToken: rotated.refreshToken }))).reason).toBe(
        'SESSION_REVOKED',
      );
      for (const r of [a, b, c])
        expect((await grpcFailure(whoAmI(r, { ...session, accessToken: rotated.accessToken }))).reason, r.name).toBe('SESSION_REVOKED');
    }
  });

  it('refresh on one replica, use the new tokens on another, and make a logout on one felt on the others at once', async () => {
    const { started, callbackUrl } = await startAndConsent(c);
    const stream = awaitLogin(a.clients.auth, started.loginId, started.verifier);
    await deliverCallback(viaReplica(callbackUrl, b));
    const session = (await stream.next('completed')).session!;

    const refreshed = (await call(b.clients.auth, b.clients.auth.refreshSession, { refreshToken: session.refreshToken })).session!;
    const next = { ...session, accessToken: refreshed.accessToken, refreshToken: refreshed.refreshToken };
    // Every replica has seen (and cached) the session alive.
    for (const r of [a, b, c]) expect((await whoAmI(r, next)).sessionId).toBe(session.sessionId);
    const again = (await call(c.clients.auth, c.clients.auth.refreshSession, { refreshToken: refreshed.refreshToken })).session!;
    expect(again.refreshToken).not.toBe(refreshed.refreshToken);

    await call(a.clients.auth, a.clients.auth.logout, { refreshToken: '' }, { bearer: refreshed.accessToken });
    // The cache TTL is 10 minutes: only the NOTIFY makes B and C reject it now.
    await expect.poll(async () => (await grpcFailure(whoAmI(b, next))).reason, { timeout: 2_000, interval: 20 }).toBe('SESSION_REVOKED');
    expect((await grpcFailure(whoAmI(c, { ...next, accessToken: again.accessToken }))).reason).toBe('SESSION_REVOKED');
  });
});
