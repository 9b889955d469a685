#!/usr/bin/env node
// What the revocation check costs on the hot path of every guarded call.
//
// Three bearer interceptors over one database and one key set, each on its
// own gRPC listener, answering WhoAmI for the same live session:
//   none      - signature and claims only (no revocation check)
//   cached    - plus the revocation check behind its cache (the default)
//   uncached  - plus the revocation check with the cache off (a query per call)
// and the same three as plain function calls (authenticate() alone).
//
//   node bench/revocation-check.ts [--calls 3000] [--concurrency 32]
// SQLite in a temporary directory by default; AIRLOCK_DATABASE_URL=postgres://...
// measures a PostgreSQL round trip instead.
import { loadMasterKeys } from '../server/storage/at-rest.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { credentials, Metadata, status as grpcStatus } from '@grpc/grpc-js';
import { AuthServiceClient } from '../proto/gen/airlock/auth/v1/auth.ts';
import { loadSettings } from '../server/config/load.ts';
import { createLogger } from '../server/observability/logger.ts';
import { sessionAuthenticator, type Authenticator } from '../server/sessions/authenticator.ts';
import { RevocationCheck } from '../server/sessions/revocation-check.ts';
import { createSessionCapability } from '../server/sessions/session-capability.ts';
import { migrateToLatest, openDatabase } from '../server/storage/database.ts';
import { authInterceptor } from '../server/transport/grpc/auth-interceptor.ts';
import { authService } from '../server/transport/grpc/auth-service.ts';
import { CallTracker } from '../server/transport/grpc/call-tracker.ts';
import { GrpcTransport } from '../server/transport/grpc/server.ts';
import { sessionHandlers } from '../server/transport/grpc/session-handlers.ts';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '3000' }, concurrency: { type: 'string', default: '32' } } });
const CALLS = Number(values.calls);
const CONCURRENCY = Number(values.concurrency);

const dir = mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-'));
const { settings } = loadSettings([], {
  AIRLOCK_DATA_DIR: dir,
  AIRLOCK_GRPC_ADDRESS: '127.0.0.1:0',
  AIRLOCK_LOG_LEVEL: 'silent',
  AIRLOCK_LOG_FORMAT: 'json',
  AIRLOCK_DATABASE_URL: process.env.AIRLOCK_DATABASE_URL ?? '',
});
const logger = createLogger(settings);
const database = openDatabase(settings);
await migrateToLatest(database.db);
// No PDS here: this benchmark measures guarded calls, never a refresh, so the upstream check is inert by design.
const noPds = { check: async () => 'active' as const, signOut: async () => {} };
const auth = await createSessionCapability({
  db: database.db,
  settings,
  issuer: 'http://bench.invalid',
  logger,
  upstream: noPds,
  sealer: loadMasterKeys(settings),
});
const session = await auth.sessions.start({ did: 'did:plc:benchbenchbenchbenchbench', handle: 'bench.test', pdsUrl: 'http://127.0.0.1:1' });

const variants: Record<string, Authenticator> = {
  none: sessionAuthenticator(auth.accessTokens, undefined),
  cached: auth.authenticator,
  uncached: sessionAuthenticator(auth.accessTokens, new RevocationCheck({ db: database.db, ttlMs: 0, maxEntries: 1 })),
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(samples: number[]): string {
  const sorted = [...samples].sort((x, y) => x - y);
  const mean = samples.reduce((s, x) => s + x, 0) / samples.length;
  return `mean ${mean.toFixed(1)} µs, p50 ${percentile(sorted, 50).toFixed(1)} µs, p99 ${percentile(sorted, 99).toFixed(1)} µs`;
}

// The machine may be busy (CI, other processes): the variants take turns in
// short rounds so drift in load hits all of them alike.
const ROUNDS = 10;
const perRound = Math.max(1, Math.floor(CALLS / ROUNDS));

async function measure(run: Record<string, () => Promise<unknown>>): Promise<Record<string, number[]>> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(run).map((name) => [name, []]));
  for (const fn of Object.values(run)) for (let i = 0; i < 200; i++) await fn(); // warm up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fn] of Object.entries(run)) {
      for (let i = 0; i < perRound; i++) {
        const t = process.hrtime.bigint();
        await fn();
        samples[name]!.push(Number(process.hrtime.bigint() - t) / 1e3);
      }
    }
  }
  return samples;
}

console.log(
  `engine: ${database.engine}, ${ROUNDS * perRound} calls per variant in ${ROUNDS} alternating rounds, ${CONCURRENCY} in flight for throughput\n`,
);

// 1. The check as a function call.
console.log('authenticate() alone (sequential):');
const direct = await measure(
  Object.fromEntries(Object.entries(variants).map(([name, a]) => [name, () => a.authenticate(session.accessToken)])),
);
for (const [name, samples] of Object.entries(direct)) console.log(`  ${name.padEnd(9)} ${summary(samples)}`);

// The check by itself, without the signature work around it.
console.log('\nthe revocation check alone (isRevoked):');
const uncachedCheck = new RevocationCheck({ db: database.db, ttlMs: 0, maxEntries: 1 });
const alone = await measure({
  cached: () => auth.revocations.isRevoked(session.sessionId),
  uncached: () => uncachedCheck.isRevoked(session.sessionId),
});
for (const [name, samples] of Object.entries(alone)) console.log(`  ${name.padEnd(9)} ${summary(samples)}`);

// 2. Over gRPC: WhoAmI through a real listener and a real client.
console.log('\nWhoAmI over gRPC (loopback, real grpc-js client):');
// The benchmark binds only the session handlers; the login methods answer UNIMPLEMENTED.
const unimplemented = (_call: unknown, callback?: (error: { code: number; details: string }) => void) =>
  callback?.({ code: grpcStatus.UNIMPLEMENTED, details: 'not bound in this benchmark' });
const loginStubs = { initiateLogin: unimplemented, awaitLogin: unimplemented, cancelLogin: unimplemented };
const listeners: Array<{ grpc: GrpcTransport; client: AuthServiceClient }> = [];
const calls: Record<string, () => Promise<void>> = {};
for (const [name, authenticator] of Object.entries(variants)) {
  const tracker = new CallTracker();
  const grpc = new GrpcTransport({
    settings,
    logger,
    tracker,
    services: [authService({ ...loginStubs, ...sessionHandlers({ logger, tracker, sessions: auth.sessions }) })],
    interceptors: [authInterceptor({ authenticator, logger })],
  });
  const port = await grpc.listen();
  const client = new AuthServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  listeners.push({ grpc, client });
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${session.accessToken}`);
  calls[name] = () => new Promise<void>((resolve, reject) => client.whoAmI({}, metadata, (error) => (error ? reject(error) : resolve())));
}
const overGrpc = await measure(calls);
const throughput: Record<string, number[]> = Object.fromEntries(Object.keys(calls).map((name) => [name, []]));
for (let round = 0; round < 3; round++) {
  for (const [name, fn] of Object.entries(calls)) {
    const started = process.hrtime.bigint();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next++ < CALLS) await fn();
      }),
    );
    throughput[name]!.push(CALLS / (Number(process.hrtime.bigint() - started) / 1e9));
  }
}
for (const [name, samples] of Object.entries(overGrpc)) {
  const best = Math.max(...throughput[name]!);
  console.log(`  ${name.padEnd(9)} sequential ${summary(samples)}; throughput (best of 3) ${best.toFixed(0)} calls/s`);
}
for (const { grpc, client } of listeners) {
  client.close();
  await grpc.shutdown(1_000);
}

await database.close();
rmSync(dir, { recursive: true, force: true });
