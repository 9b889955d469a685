// Limits on logins: InitiateLogin rate per client address and pending logins
// in total give RESOURCE_EXHAUSTED (the cap exact under concurrency, on
// SQLite and across two PostgreSQL replicas); 1,000 AwaitLogin streams cost no timer
// each, and once cancelled leave no listener and no timer behind.
import { Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { consentViaApi } from '../support/consent.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { awaitLogin, initiateLogin, newVerifier, type LoginStream } from '../support/login.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';
import { createTestDatabase } from '../support/postgres.ts';

let pds: TestPds;
let account: TestAccount;

beforeAll(async () => {
  pds = await startPds();
  account = await pds.createAccount();
});

afterAll(async () => {
  await pds?.stop();
});

async function withAirlock(
  env: Record<string, string>,
  fn: (airlock: InProcessAirlock, clients: ReturnType<typeof clientsFor>) => Promise<void>,
) {
  const airlock = await startInProcess({ ...pds.airlockEnv(), ...env });
  const clients = clientsFor(airlock.grpcTarget);
  try {
    await fn(airlock, clients);
  } finally {
    clients.close();
    await airlock.close();
  }
}

test('InitiateLogin beyond the per-address rate is RESOURCE_EXHAUSTED with a retry delay', async () => {
  await withAirlock({ AIRLOCK_LOGIN_RATE_PER_MINUTE: '3' }, async (_airlock, clients) => {
    for (let i = 0; i < 3; i++) await initiateLogin(clients.auth, account.handle);
    const failure = await grpcFailure(initiateLogin(clients.auth, account.handle));
    expect(failure.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(failure.details).toMatch(/too many logins started from this address \(limit 3 per minute\); retry in \d+ s/);
    expect(failure.reason).toBe('RATE_LIMITED');
    // Malformed calls count too: the limit protects the server, not the PDS alone.
    expect((await grpcFailure(initiateLogin(clients.auth, ''))).code).toBe(status.RESOURCE_EXHAUSTED);
  });
});

test('pending logins are capped per client network (behind a trusted proxy, IPv6 per /64); other networks still start, and a cancelled one frees its place', async () => {
  const env = { AIRLOCK_MAX_PENDING_LOGINS_PER_NETWORK: '2', AIRLOCK_TRUSTED_PROXIES: '127.0.0.1', AIRLOCK_LOGIN_RATE_PER_MINUTE: '100' };
  await withAirlock(env, async (_airlock, clients) => {
    const from = async (network: string) => {
      const v = newVerifier();
      const metadata = new Metadata();
      metadata.set('x-forwarded-for', network);
      const started = await call(
        clients.auth,
        clients.auth.initiateLogin,
        { identifier: account.handle, loginVerifierChallenge: v.challenge },
        { metadata },
      );
      return { ...started, verifier: v.verifier };
    };
    const first = await from('2001:db8:1:2::a');
    await from('2001:db8:1:2:ffff::b');
    const failure = await grpcFailure(from('2001:db8:1:2::c'));
    expect(failure.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(failure.details).toBe(
      'too many logins started from this network are waiting for users (limit 2); finish or cancel one, or retry later',
    );
    await from('2001:db8:1:3::a');
    await from('198.51.100.1');
    await call(clients.auth, clients.auth.cancelLogin, { loginId: first.loginId, loginVerifier: first.verifier });
    await from('2001:db8:1:2::d');
  });
});

test('more pending logins than allowed in total is RESOURCE_EXHAUSTED; a finished one frees its place', async () => {
  await withAirlock({ AIRLOCK_MAX_PENDING_LOGINS: '2', AIRLOCK_LOGIN_RATE_PER_MINUTE: '100' }, async (_airlock, clients) => {
    const first = await initiateLogin(clients.auth, account.handle);
    await initiateLogin(clients.auth, account.handle);
    const failure = await grpcFailure(initiateLogin(clients.auth, account.handle));
    expect(failure.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(failure.details).toContain('too many logins are waiting for users (limit 2)');
    await consentViaApi(first.authorizeUrl, account);
    await initiateLogin(clients.auth, account.handle);
  });
});

test('concurrent InitiateLogin calls cannot overshoot the pending-login cap (the count and the insert are one step)', async () => {
  await withAirlock(
    { AIRLOCK_MAX_PENDING_LOGINS: '40', AIRLOCK_LOGIN_RATE_PER_MINUTE: '1000', AIRLOCK_UPSTREAM_TIMEOUT: '60s' },
    async (_airlock, clients) => {
      // All 60 pass the early count together (it runs before the PAR); only 40 may be inserted.
      const results = await Promise.allSettled(Array.from({ length: 60 }, () => initiateLogin(clients.auth, account.handle)));
      const refused = await Promise.all(results.filter((r) => r.status === 'rejected').map((r) => grpcFailure(Promise.reject(r.reason))));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(40);
      expect(refused.map((f) => f.code)).toEqual(Array(20).fill(status.RESOURCE_EXHAUSTED));
    },
  );
});

test('PostgreSQL: concurrent InitiateLogin calls spread over two replicas cannot overshoot the pending-login cap', async () => {
  const database = await createTestDatabase();
  const env = {
    ...pds.airlockEnv(),
    AIRLOCK_DATABASE_URL: database.url,
    AIRLOCK_MAX_PENDING_LOGINS: '40',
    AIRLOCK_LOGIN_RATE_PER_MINUTE: '1000',
    AIRLOCK_UPSTREAM_TIMEOUT: '60s',
  };
  const replicas = [await startInProcess(env), await startInProcess(env)];
  const clients = replicas.map((replica) => clientsFor(replica.grpcTarget));
  try {
    // 30 calls on each replica at once: the count and the insert are one step across replicas (an advisory lock).
    const results = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => initiateLogin(clients[i % 2]!.auth, account.handle)));
    const refused = await Promise.all(results.filter((r) => r.status === 'rejected').map((r) => grpcFailure(Promise.reject(r.reason))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(40);
    expect(refused.map((f) => f.code)).toEqual(Array(20).fill(status.RESOURCE_EXHAUSTED));
    const stored = await replicas[0]!.database.db
      .selectFrom('logins')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(stored.n)).toBe(40);
  } finally {
    for (const c of clients) c.close();
    for (const replica of replicas) await replica.close();
    await database.drop();
  }
});

function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

async function until(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('1,000 cancelled AwaitLogin streams leave no listeners and no timers behind', async () => {
  await withAirlock({ AIRLOCK_MAX_STREAMS_PER_LOGIN: '1000', AIRLOCK_HEARTBEAT_INTERVAL: '15s' }, async (airlock, clients) => {
    const { broker, bus } = airlock.login;
    const started = await initiateLogin(clients.auth, account.handle);
    // Settle, then count the process's timers with no stream open.
    await new Promise((r) => setTimeout(r, 200));
    const baseline = activeTimeouts();
    expect(bus.listenerCount).toBe(0);

    const streams: LoginStream[] = [];
    for (let i = 0; i < 1000; i++) streams.push(awaitLogin(clients.auth, started.loginId, started.verifier));
    await until(() => streams.every((s) => s.events.length > 0));
    await until(() => broker.activeStreams === 1000);
    // Open streams share one heartbeat interval, one expiry timer and one
    // subscription per login: none costs a timer or a listener of its own.
    expect(broker.activeTimers).toBe(2);
    expect(bus.listenerCount).toBe(1);
    expect(activeTimeouts()).toBeLessThan(baseline + 50);

    for (const s of streams) s.cancel();
    const ends = await Promise.all(streams.map((s) => s.end));
    expect(ends.every((e) => e.code === status.CANCELLED)).toBe(true);
    await until(() => bus.listenerCount === 0 && broker.activeStreams === 0);
    expect(broker.activeTimers).toBe(0);
    await until(() => activeTimeouts() <= baseline, 5_000);

    // The login itself is unharmed.
    const survivor = awaitLogin(clients.auth, started.loginId, started.verifier);
    await consentViaApi(started.authorizeUrl, account);
    expect((await survivor.next('completed')).session!.did).toBe(account.did);
    expect(bus.listenerCount).toBe(0);
  });
});
