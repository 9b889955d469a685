// PostgreSQL stopped and started again for real (a throwaway server of the
// machine's PostgreSQL, so the shared one on 5432 is left alone) under two
// running replicas in the middle of a login: clear UNAVAILABLE answers and
// NOT_SERVING health during the outage, recovery without a restart, and the
// login still completes. A crash in the middle of the code exchange (the
// PDS's token answer held until PostgreSQL is down) ends the login with a
// failed event the app receives, never a silent pending stream.
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthCheckResponse_ServingStatus } from '../../proto/gen/grpc/health/v1/health.ts';
import { decideViaApi, deliverCallback, openAuthorizePage } from '../support/consent.ts';
import { call, grpcFailure } from '../support/grpc.ts';
import { awaitLogin, initiateLogin } from '../support/login.ts';
import { holdPdsAnswers, tokenRequests } from '../support/pds-hold.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';
import { startDisposableCluster, type DisposableCluster } from '../support/postgres-cluster.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { routePublicUrl, startReplica, viaReplica, type Replica } from '../support/replicas.ts';

const UNREACHABLE = 'the database is unreachable; retry shortly';

let cluster: DisposableCluster;
let pds: TestPds;
let account: TestAccount;
let a: Replica;
let b: Replica;
let unroute: () => void;

beforeAll(async () => {
  cluster = await startDisposableCluster();
  const database = await createTestDatabase(cluster.adminUrl);
  pds = await startPds();
  account = await pds.createAccount();
  const env = {
    ...pds.airlockEnv(),
    AIRLOCK_DATABASE_PROBE_INTERVAL: '200ms',
    AIRLOCK_DATABASE_PROBE_TIMEOUT: '500ms',
    AIRLOCK_DATABASE_CONNECT_TIMEOUT: '1s',
    AIRLOCK_DATABASE_RECONNECT_MAX_DELAY: '500ms',
    AIRLOCK_HEARTBEAT_INTERVAL: '300ms',
  };
  [a, b] = (await Promise.all([startReplica('a', database.url, env), startReplica('b', database.url, env)])) as [Replica, Replica];
  unroute = routePublicUrl(() => a);
});

afterAll(async () => {
  unroute?.();
  await a?.close();
  await b?.close();
  await pds?.stop();
  cluster?.destroy();
});

async function health(replica: Replica): Promise<number> {
  const response = await call(replica.clients.health, replica.clients.health.check, { service: '' });
  return response.status;
}

async function healthz(replica: Replica): Promise<number> {
  return (await fetch(`http://127.0.0.1:${replica.httpPort}/healthz`)).status;
}

describe('PostgreSQL restarted in the middle of a login', () => {
  it('answers UNAVAILABLE and NOT_SERVING during the outage, recovers by itself, and the login completes', async () => {
    for (const r of [a, b]) expect(await health(r)).toBe(HealthCheckResponse_ServingStatus.SERVING);

    const started = await initiateLogin(a.clients.auth, account.handle);
    const stream = awaitLogin(b.clients.auth, started.loginId, started.verifier, { deadlineMs: 60_000 });
    await stream.next('pending');
    const authorize = await openAuthorizePage(viaReplica(started.authorizeUrl, a));
    const callbackUrl = await decideViaApi(authorize, account);
    await stream.next('browserOpened');

    let outageStarted = 0;
    try {
      cluster.stop('fast');
      outageStarted = Date.now();

      // Calls that need the database fail fast and say why.
      const initiate = await grpcFailure(initiateLogin(a.clients.auth, account.handle));
      expect(initiate).toMatchObject({ code: status.UNAVAILABLE, details: UNREACHABLE });
      const attach = await grpcFailure(
        awaitLogin(a.clients.auth, started.loginId, started.verifier).end.then((s) =>
          Promise.reject(Object.assign(new Error(s.details), s)),
        ),
      );
      expect(attach).toMatchObject({ code: status.UNAVAILABLE, details: UNREACHABLE });
      // A well-formed refresh token that was never issued: only the database can say so.
      const refresh = await grpcFailure(call(b.clients.auth, b.clients.auth.refreshSession, { refreshToken: 'A'.repeat(43) }));
      expect(refresh).toMatchObject({ code: status.UNAVAILABLE, details: UNREACHABLE });

      // Health follows within a probe interval or two, on both replicas.
      for (const r of [a, b]) {
        await expect.poll(() => health(r), { timeout: 3_000, interval: 50 }).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
        expect(await healthz(r)).toBe(503);
      }
      console.log(`NOT_SERVING on both replicas ${Date.now() - outageStarted} ms after the stop`);

      // The user's browser arrives meanwhile: a clear "try again" page, and nothing is spent.
      const early = await deliverCallback(viaReplica(callbackUrl, b));
      expect(early.status).toBe(503);
      expect(early.body).toContain('Reload this page');

      // The open stream on B stays alive (heartbeats need no database).
      const beats = stream.cases().filter((c) => c === 'heartbeat').length;
      await expect
        .poll(() => stream.cases().filter((c) => c === 'heartbeat').length, { timeout: 2_000, interval: 50 })
        .toBeGreaterThan(beats);
    } finally {
      cluster.start();
    }
    const restarted = Date.now();
    console.log(`outage lasted ${restarted - outageStarted} ms`);

    // Back by themselves: same processes, SERVING again, calls work.
    for (const r of [a, b]) {
      await expect.poll(() => health(r), { timeout: 10_000, interval: 50 }).toBe(HealthCheckResponse_ServingStatus.SERVING);
      expect(await healthz(r)).toBe(200);
      expect(r.process.exitCode).toBeNull();
      expect(r.process.signalCode).toBeNull();
    }
    console.log(`SERVING again on both replicas ${Date.now() - restarted} ms after the start`);
    const refreshAfter = await grpcFailure(call(b.clients.auth, b.clients.auth.refreshSession, { refreshToken: 'A'.repeat(43) }));
    expect(refreshAfter).toMatchObject({ code: status.UNAUTHENTICATED, reason: 'TOKEN_INVALID' });

    // The user reloads the callback page: the login completes, and the stream opened before the outage gets it.
    const page = await deliverCallback(viaReplica(callbackUrl, b));
    expect(page.status).toBe(200);
    expect(page.body).toContain(`Signed in as @${account.handle}.`);
    const completed = await stream.next('completed', 10_000);
    expect(completed.session!.did).toBe(account.did);
    expect(await stream.end).toEqual({ code: status.OK, details: 'OK' });
    expect(await call(a.clients.auth, a.clients.auth.whoAmI, {}, { bearer: completed.session!.accessToken })).toMatchObject({
      did: account.did,
    });

    // Nothing crashed: no uncaught error on either replica.
    for (const r of [a, b]) expect(r.stderr.join('\n')).not.toMatch(/uncaught|unhandled/i);
  });

  it('survives a crash of PostgreSQL lasting seconds (reconnecting with backoff) and completes a login started before it', async () => {
    const started = await initiateLogin(b.clients.auth, account.handle);
    const stream = awaitLogin(a.clients.auth, started.loginId, started.verifier, { deadlineMs: 60_000 });
    await stream.next('pending');
    const callbackUrl = await decideViaApi(await openAuthorizePage(viaReplica(started.authorizeUrl, b)), account);
    const restoredBefore = a.logs.filter((l) => l.msg === 'database LISTEN connection restored').length;
    try {
      // No shutdown checkpoint, connections cut: as if the database host died.
      cluster.stop('immediate');
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(await health(a)).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
      expect(await grpcFailure(initiateLogin(b.clients.auth, account.handle))).toMatchObject({
        code: status.UNAVAILABLE,
        details: UNREACHABLE,
      });
    } finally {
      cluster.start();
    }
    for (const r of [a, b])
      await expect.poll(() => health(r), { timeout: 15_000, interval: 50 }).toBe(HealthCheckResponse_ServingStatus.SERVING);
    await expect
      .poll(() => a.logs.filter((l) => l.msg === 'database LISTEN connection restored').length, { timeout: 10_000 })
      .toBeGreaterThan(restoredBefore);

    const page = await deliverCallback(viaReplica(callbackUrl, b));
    expect(page.status).toBe(200);
    expect((await stream.next('completed', 10_000)).session!.did).toBe(account.did);
    for (const r of [a, b]) expect(r.process.exitCode).toBeNull();
  });

  it('ends a login whose code exchange PostgreSQL crashed under with a failed event the app receives; the reload says how it ended', async () => {
    const started = await initiateLogin(a.clients.auth, account.handle);
    const stream = awaitLogin(a.clients.auth, started.loginId, started.verifier, { deadlineMs: 90_000 });
    await stream.next('pending');
    const callbackUrl = await decideViaApi(await openAuthorizePage(viaReplica(started.authorizeUrl, a)), account);

    // B is exchanging the code (the PDS has spent it; its answer is held) when the database host dies.
    const hold = holdPdsAnswers(pds, tokenRequests);
    let page: Awaited<ReturnType<typeof deliverCallback>>;
    try {
      const delivering = deliverCallback(viaReplica(callbackUrl, b));
      await hold.held();
      cluster.stop('immediate');
      hold.release();
      page = await delivering;
    } finally {
      hold.dispose();
      cluster.start();
    }
    // The browser is told the truth: this sign-in cannot be resumed.
    expect(page.status).toBe(502);
    expect(page.body).toContain('interrupted by a temporary fault');

    // Once the database is back, the app's stream (held open on A all along) gets the failure.
    const failed = await stream.next('failed', 30_000);
    expect(failed.message).toContain('interrupted by a temporary fault');
    expect(failed.message).toContain('Start again from the app.');
    expect((await stream.end).code).toBe(status.OK);
    // B logs it once the result is stored and announced, so the stream on A may hear first.
    await expect
      .poll(() => b.logs.some((l) => l.msg === 'stored a finished login after a database fault'), { timeout: 5_000, interval: 50 })
      .toBe(true);

    // A reload of the callback page says how the login ended, on either replica.
    for (const r of [a, b]) {
      const reload = await deliverCallback(viaReplica(callbackUrl, r));
      expect(reload.status, r.name).toBe(502);
      expect(reload.body).toContain('interrupted by a temporary fault');
    }
    for (const r of [a, b]) expect(r.process.exitCode).toBeNull();
  });
});
