// AwaitLogin streams that the client cancels leave nothing behind: not in
// the call tracker, not in the broker, not on the heap. A server whose apps
// come and go must not grow with every stream it ever served.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { clientsFor } from '../support/grpc.ts';
import { awaitLogin, initiateLogin, type StartedLogin } from '../support/login.ts';
import { startPds, type TestPds } from '../support/pds.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const BATCH = 500;
const ROUNDS = 8;

let pds: TestPds;
let airlock: InProcessAirlock;
let clients: ReturnType<typeof clientsFor>;
let login: StartedLogin;

beforeAll(async () => {
  pds = await startPds();
  const account = await pds.createAccount();
  airlock = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_MAX_STREAMS_PER_LOGIN: String(BATCH), AIRLOCK_LOG_LEVEL: 'warn' });
  clients = clientsFor(airlock.grpcTarget);
  login = await initiateLogin(clients.auth, account.handle);
});

afterAll(async () => {
  clients?.close();
  await airlock?.close();
  await pds?.stop();
});

/**
 * Opens a batch of streams, waits until each has its pending event, cancels
 * them all. Each batch uses its own connection, as apps coming and going do:
 * HTTP/2 servers close a connection that resets too many streams in a burst.
 */
async function openAndCancel(n: number): Promise<void> {
  const batch = clientsFor(airlock.grpcTarget);
  const streams = Array.from({ length: n }, () => awaitLogin(batch.auth, login.loginId, login.verifier));
  await Promise.all(streams.map((s) => s.next('pending', 60_000)));
  expect(airlock.grpc.openStreams).toBe(n);
  for (const s of streams) s.cancel();
  const ends = await Promise.all(streams.map((s) => s.end));
  expect(ends.every((e) => e.code === status.CANCELLED)).toBe(true);
  batch.close();
}

/** The server learns of a cancel asynchronously (RST_STREAM, then a tick). */
async function settled(): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((airlock.grpc.openStreams > 0 || airlock.login.broker.activeStreams > 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

function heapAfterFullGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

test('thousands of cancelled AwaitLogin streams leave no tracked call and no heap behind', { timeout: 300_000 }, async () => {
  // Warm up: first use of a code path allocates caches that are not leaks.
  await openAndCancel(BATCH);
  await settled();
  const before = heapAfterFullGc();

  for (let round = 0; round < ROUNDS; round++) {
    await openAndCancel(BATCH);
    await settled();
    expect(airlock.grpc.openStreams).toBe(0);
  }
  expect(airlock.login.broker.activeStreams).toBe(0);
  expect(airlock.login.broker.activeTimers).toBe(0);
  expect(airlock.login.bus.listenerCount).toBe(0);

  // About 7 kB stayed per cancelled stream before the fix (28 MB for 4,000);
  // the bound leaves room for the allocator and the JIT, not for a leak.
  const growth = heapAfterFullGc() - before;
  expect(growth).toBeLessThan(8 * 1024 * 1024);
});
