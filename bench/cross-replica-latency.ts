#!/usr/bin/env node
// Cross-replica login completion latency: three Airlock processes on one
// PostgreSQL database, a local PDS; each login is started on A, its
// callback delivered to B, its AwaitLogin stream held on C. Prints, over N
// logins (default 100; `node bench/cross-replica-latency.ts 300`):
//   callback→event      from sending the callback to B until C's stream has
//                       the completed event (includes B's code exchange with
//                       the PDS and session creation)
//   notify→event        from the moment a LISTEN connection of this process
//                       (a bystander replica) receives B's NOTIFY until C's
//                       stream has the event: the cross-replica part (C's
//                       LISTEN, store read, unsealing, gRPC write)
//   same-replica        callback→event with callback and stream both on C,
//                       for comparison
// Needs PostgreSQL (AIRLOCK_TEST_POSTGRES_URL or 127.0.0.1:5432).
import pg from 'pg';
import type { AwaitLoginResponse } from '../proto/gen/airlock/auth/v1/auth.ts';
import { LOGIN_EVENTS_CHANNEL } from '../server/coordination/pg-login-events.ts';
import { decideViaApi, deliverCallback, openAuthorizePage } from '../test/support/consent.ts';
import { awaitLogin, initiateLogin } from '../test/support/login.ts';
import { startPds } from '../test/support/pds.ts';
import { createTestDatabase } from '../test/support/postgres.ts';
import { routePublicUrl, startReplica, viaReplica, type Replica } from '../test/support/replicas.ts';

const rounds = Number(process.argv[2] ?? 100);

function summary(name: string, values: number[]): string {
  const sorted = [...values].sort((x, y) => x - y);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return `${name.padEnd(16)} median ${at(0.5).toFixed(1)} ms   p99 ${at(0.99).toFixed(1)} ms   min ${sorted[0]!.toFixed(1)} ms   max ${sorted.at(-1)!.toFixed(1)} ms   (n=${sorted.length})`;
}

const pds = await startPds();
const database = await createTestDatabase();
const env = { ...pds.airlockEnv(), AIRLOCK_LOGIN_RATE_PER_MINUTE: '100000', AIRLOCK_LOG_LEVEL: 'info' };
const [a, b, c] = (await Promise.all(['a', 'b', 'c'].map((n) => startReplica(n, database.url, env)))) as [Replica, Replica, Replica];
const unroute = routePublicUrl(() => a);
const account = await pds.createAccount();
// A bystander listening like a replica would: when did the NOTIFY go out?
const bystander = new pg.Client({ connectionString: database.url });
await bystander.connect();
await bystander.query(`LISTEN ${LOGIN_EVENTS_CHANNEL}`);
let lastFinishedNotify = 0;
bystander.on('notification', (n) => {
  if (n.payload && JSON.parse(n.payload).t === 'finished') lastFinishedNotify = performance.now();
});

async function once(callbackOn: Replica): Promise<{ callbackToEvent: number; notifyToEvent: number }> {
  const started = await initiateLogin(a.clients.auth, account.handle);
  const stream = awaitLogin(c.clients.auth, started.loginId, started.verifier);
  let eventAt = 0;
  stream.call.on('data', (event: AwaitLoginResponse) => {
    if (event.event?.$case === 'completed') eventAt = performance.now();
  });
  await stream.next('pending');
  const callbackUrl = await decideViaApi(await openAuthorizePage(viaReplica(started.authorizeUrl, a)), account);
  lastFinishedNotify = 0;
  const sent = performance.now();
  const page = await deliverCallback(viaReplica(callbackUrl, callbackOn));
  if (page.status !== 200) throw new Error(`callback answered ${page.status}`);
  await stream.next('completed');
  await stream.end;
  for (let i = 0; i < 100 && !lastFinishedNotify; i += 1) await new Promise((r) => setTimeout(r, 10));
  return { callbackToEvent: eventAt - sent, notifyToEvent: eventAt - lastFinishedNotify };
}

try {
  // Warm-up: connections, JIT, the PDS's caches.
  for (let i = 0; i < 5; i += 1) await once(b);
  const cross: Array<{ callbackToEvent: number; notifyToEvent: number }> = [];
  const same: number[] = [];
  for (let i = 0; i < rounds; i += 1) {
    cross.push(await once(b));
    same.push((await once(c)).callbackToEvent);
  }
  console.log(
    `${rounds} logins; callback on B, AwaitLogin on C (separate processes, one PostgreSQL ${process.env.AIRLOCK_TEST_POSTGRES_URL ? 'from AIRLOCK_TEST_POSTGRES_URL' : 'on 127.0.0.1:5432'})`,
  );
  console.log(
    summary(
      'callback→event',
      cross.map((x) => x.callbackToEvent),
    ),
  );
  console.log(
    summary(
      'notify→event',
      cross.map((x) => x.notifyToEvent),
    ),
  );
  console.log(summary('same-replica', same));
} finally {
  unroute();
  await bystander.end();
  for (const r of [a, b, c]) await r.close();
  await pds.stop();
  await database.drop();
}
process.exit(0);
