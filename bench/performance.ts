#!/usr/bin/env node
// `npm run bench`: the performance figures of issue 17 from one run, against
// one Airlock server process (node server/main.ts, SQLite, logs at info) and
// a local PDS in this process:
//   unary    ghz (the real tool, a second process) on Health/Check, WhoAmI,
//            ListChannels and GetChannelToken with a real access token,
//            alternating rounds; rps, ratio to Health/Check of the same
//            round, server CPU per call, p99
//   streams  N pending logins, each with an idle AwaitLogin stream from this
//            process: server CPU while idle, RSS and heap per login+stream
//            (RSS right after opening, and after the idle period, once V8
//            has given back the opening's garbage), heap after they close,
//            Health/Check p50/p99 at a fixed rate below saturation (ghz
//            --rps) with no stream and with the streams open, over a window
//            that holds a heartbeat tick, and saturated (queueing) as well.
//            The issue's case, 10,000 streams at the 15 s heartbeat, is
//            `--only streams --streams 10000 --idle 31` (opening them takes
//            3 to 6 minutes on a 2-core machine, too long for the default)
//   logins   server CPU per phase of a real login (InitiateLogin + AwaitLogin
//            until pending, the login link, the callback) and how long after
//            the callback page the stream's completed event arrives
//   cold     spawn to "airlock is serving", fresh and existing data dir, with
//            Node's compile cache and without it (NODE_DISABLE_COMPILE_CACHE)
// Medians with [min..max] over rounds. Server CPU is read from
// /proc/<pid>/task/*/schedstat (all threads, ns). Not part of `npm test`.
//
//   npm run bench -- [--rounds 3] [--seconds 3] [--concurrency 64] [--connections 4]
//                    [--streams 2000] [--heartbeat 15s] [--idle 31] [--check-rps 500]
//                    [--check-concurrency 8] [--logins 10] [--cold 5]
//                    [--server-root ../other-checkout] [--only streams,logins,unary,cold]
//                    [--profile <dir>: the measured server's CPU profile]
//                    [--server-env NAME=VALUE ...: extra server settings]
//                    [--heap-snapshots <dir>: the server's heap, idle and with the streams open]
import { spawn, type ChildProcess } from 'node:child_process';
import { hash } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { decideViaApi, deliverCallback, openAuthorizePage } from '../test/support/consent.ts';
import { call, clientsFor } from '../test/support/grpc.ts';
import { awaitLogin, initiateLogin, loginViaApi, type LoginStream } from '../test/support/login.ts';
import { startPds, type TestAccount } from '../test/support/pds.ts';
import { tempDir } from '../test/support/settings.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '64' },
    connections: { type: 'string', default: '4' },
    streams: { type: 'string', default: '2000' },
    // Health/Check at a fixed rate (ghz --rps, this many in flight) before and while the streams are open.
    'check-rps': { type: 'string', default: '500' },
    'check-concurrency': { type: 'string', default: '8' },
    // A directory for heap snapshots of the server (idle, streams open), to see what a stream keeps.
    'heap-snapshots': { type: 'string', default: '' },
    // The server's default heartbeat; 31 s idle holds two ticks and lets V8 give back the opening's garbage.
    heartbeat: { type: 'string', default: '15s' },
    idle: { type: 'string', default: '31' },
    logins: { type: 'string', default: '10' },
    cold: { type: 'string', default: '5' },
    // Another checkout's server/main.ts, to compare before and after on one machine.
    'server-root': { type: 'string', default: '' },
    only: { type: 'string', default: 'streams,logins,unary,cold' },
    // A directory for the server's CPU profile (node --cpu-prof), written when it stops.
    profile: { type: 'string', default: '' },
    // Extra server environment, e.g. --server-env AIRLOCK_CHANNEL_TOKEN_REUSE=0 (repeatable).
    'server-env': { type: 'string', multiple: true, default: [] },
    // Which unary calls to measure besides Health/Check (all by default).
    calls: { type: 'string', default: 'WhoAmI,ListChannels,GetChannelToken' },
  },
});
const SERVER_ROOT = args['server-root'] ? path.resolve(args['server-root']) : ROOT;
const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);
const STREAMS = Number(args.streams);
const IDLE_SECONDS = Number(args.idle);
const LOGINS = Number(args.logins);
const COLD = Number(args.cold);
const ONLY = new Set(args.only.split(','));
const CHECK_RPS = Number(args['check-rps']);
const CHECK_CONCURRENCY = Number(args['check-concurrency']);

/** "15s", "500ms", "1m" (AIRLOCK_HEARTBEAT_INTERVAL's forms) in ms. */
function durationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${text}`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1_000);
}
const HEARTBEAT_MS = durationMs(args.heartbeat);

// ---- measuring a server process ----

interface Server {
  process: ChildProcess;
  pid: number;
  grpcTarget: string;
  servingAfterMs: number;
  /** CPU time the process had used when it logged SERVING: less noisy than wall time on a shared machine. */
  servingCpuMs: number;
  /** The inspector's WebSocket URL, when started with one (to read the heap after a full GC). */
  inspector: string | undefined;
  stop(): Promise<void>;
}

async function startServer(env: Record<string, string>, options: { inspect?: boolean; profile?: string } = {}): Promise<Server> {
  const started = performance.now();
  const flags = [
    ...(options.inspect ? ['--inspect=127.0.0.1:0'] : []),
    ...(options.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(options.profile)}`] : []),
  ];
  const child = spawn(process.execPath, [...flags, path.join(SERVER_ROOT, 'server/main.ts')], {
    cwd: SERVER_ROOT,
    env: {
      ...process.env,
      AIRLOCK_GRPC_ADDRESS: '127.0.0.1:0',
      AIRLOCK_HTTP_ADDRESS: '127.0.0.1:0',
      AIRLOCK_LOG_FORMAT: 'json',
      AIRLOCK_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  const stderr: string[] = [];
  let inspector: string | undefined;
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr.push(chunk.toString());
    inspector ??= /Debugger listening on (ws:\/\/\S+)/.exec(stderr.join(''))?.[1];
  });
  const lines = readline.createInterface({ input: child.stdout! });
  const grpcPort = await new Promise<number>((resolve, reject) => {
    lines.on('line', (line) => {
      if (!line.includes('airlock is serving')) return;
      resolve(Number((JSON.parse(line) as { grpcPort: number }).grpcPort));
    });
    void exited.then(() => reject(new Error(`server exited before serving: ${stderr.join('')}`)));
  });
  const servingAfterMs = performance.now() - started;
  const servingCpuMs = cpuNs(child.pid!) / 1e6;
  // From here on the logs are drained unread, so the harness costs the server nothing.
  lines.close();
  child.stdout!.resume();
  return {
    process: child,
    pid: child.pid!,
    grpcTarget: `127.0.0.1:${grpcPort}`,
    servingAfterMs,
    servingCpuMs,
    get inspector() {
      return inspector;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** CPU time of every thread of the process so far, in ns. */
function cpuNs(pid: number): number {
  let total = 0;
  for (const ns of cpuNsByThread(pid).values()) total += ns;
  return total;
}

/** CPU ms of a fixed workload in this process (median of 5): how fast this machine is right now. */
function machineReferenceMs(): number {
  const times: number[] = [];
  const text = JSON.stringify({ token: 'x'.repeat(600), claims: Array.from({ length: 20 }, (_, i) => ({ i, s: `v${i}` })) });
  for (let round = 0; round < 5; round++) {
    const started = process.cpuUsage();
    for (let i = 0; i < 20_000; i++) {
      hash('sha256', text);
      JSON.parse(text);
    }
    const used = process.cpuUsage(started);
    times.push((used.user + used.system) / 1000);
  }
  return quantile(times, 0.5);
}

/** CPU time so far per thread name (main thread, libuv pool, V8 GC helpers), in ns. */
function cpuNsByThread(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = task === String(pid) ? 'main' : readFileSync(`/proc/${pid}/task/${task}/comm`, 'utf8').trim().replace(/\d+$/, '');
      const ns = Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
      byName.set(name, (byName.get(name) ?? 0) + ns);
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return byName;
}

/** Evaluates an expression in the server through its inspector (returned by value). */
async function evaluateInServer<T>(server: Server, expression: string, collectGarbage = false): Promise<T | undefined> {
  if (!server.inspector) return undefined;
  const socket = new WebSocket(server.inspector);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  const pending = new Map<number, (result: unknown) => void>();
  socket.onmessage = (message) => {
    const reply = JSON.parse(String(message.data)) as { id?: number; result?: unknown };
    if (reply.id !== undefined) pending.get(reply.id)?.(reply.result);
  };
  let id = 0;
  const send = (method: string, params: unknown = {}) =>
    new Promise<unknown>((resolve) => {
      pending.set(++id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  if (collectGarbage) {
    await send('HeapProfiler.collectGarbage');
    await send('HeapProfiler.collectGarbage');
  }
  const result = (await send('Runtime.evaluate', { expression, returnByValue: true })) as { result: { value: T } };
  socket.close();
  return result.result.value;
}

/** Writes a heap snapshot of the server (after a full GC) to `file`, through its inspector. */
async function heapSnapshot(server: Server, file: string): Promise<void> {
  if (!server.inspector) return;
  const socket = new WebSocket(server.inspector);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  const chunks: string[] = [];
  let done: (() => void) | undefined;
  socket.onmessage = (message) => {
    const reply = JSON.parse(String(message.data)) as { id?: number; method?: string; params?: { chunk: string } };
    if (reply.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(reply.params!.chunk);
    else if (reply.id === 1) done?.();
  };
  await new Promise<void>((resolve) => {
    done = resolve;
    socket.send(JSON.stringify({ id: 1, method: 'HeapProfiler.takeHeapSnapshot', params: { reportProgress: false } }));
  });
  socket.close();
  writeFileSync(file, chunks.join(''));
}

/** The server's memory by kind (process.memoryUsage and V8's heap spaces), in bytes. */
async function memoryBreakdown(server: Server): Promise<Record<string, number> | undefined> {
  return evaluateInServer<Record<string, number>>(
    server,
    `(() => { const m = process.memoryUsage(); const o = { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
      o.heapResident = 0; for (const s of process.getBuiltinModule('node:v8').getHeapSpaceStatistics()) { o[s.space_name] = s.physical_space_size; o.heapResident += s.physical_space_size; } return o; })()`,
  );
}

/** The server's live JS heap after a full garbage collection, through its inspector. */
async function heapAfterGc(server: Server): Promise<number> {
  return (await evaluateInServer<number>(server, 'process.memoryUsage().heapUsed', true)) ?? NaN;
}

/** Starts (or restarts) an event-loop delay histogram in the server. */
async function startLoopDelay(server: Server): Promise<void> {
  await evaluateInServer(
    server,
    "(globalThis.__benchLoopDelay ??= process.getBuiltinModule('node:perf_hooks').monitorEventLoopDelay({ resolution: 10 }), globalThis.__benchLoopDelay.reset(), globalThis.__benchLoopDelay.enable(), 0)",
  );
}

/** The server's event-loop delay p99 since startLoopDelay, in ms. */
async function loopDelayP99(server: Server): Promise<number> {
  return ((await evaluateInServer<number>(server, 'globalThis.__benchLoopDelay.percentile(99)')) ?? NaN) / 1e6;
}

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))!;
  return Number(/(\d+)/.exec(line)![1]) * 1024;
}

// ---- ghz ----

interface GhzResult {
  count: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

async function ghz(
  target: string,
  method: string,
  data: unknown,
  options: { token?: string; seconds?: number; concurrency?: number; connections?: number; rps?: number } = {},
): Promise<GhzResult> {
  const argv = [
    '--insecure',
    '--format',
    'json',
    '--call',
    method,
    '-d',
    JSON.stringify(data),
    '-c',
    String(options.concurrency ?? Number(args.concurrency)),
    '--connections',
    String(options.connections ?? args.connections),
    '-z',
    `${options.seconds ?? SECONDS}s`,
    '--skipFirst',
    '0',
    '--protoset',
    path.join(ROOT, 'proto/gen/descriptor.binpb'),
  ];
  // A fixed rate below saturation: latency then shows interference, not a queue of calls.
  if (options.rps) argv.push('--rps', String(options.rps));
  if (options.token) argv.push('-m', JSON.stringify({ authorization: `Bearer ${options.token}` }));
  argv.push(target);
  const child = spawn('ghz', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0 && out.length === 0) throw new Error(`ghz failed (${code}): ${Buffer.concat(err).toString()}`);
  const report = JSON.parse(Buffer.concat(out).toString()) as {
    count: number;
    rps: number;
    latencyDistribution: Array<{ percentage: number; latency: number }> | null;
    statusCodeDistribution?: Record<string, number>;
    errorDistribution?: Record<string, number> | null;
  };
  // Calls still in flight when the duration ends fail as ghz closes its
  // connections ("use of closed network connection"): not errors of the server.
  const codes = report.statusCodeDistribution ?? {};
  const errors = Object.entries(report.errorDistribution ?? {})
    .filter(([message]) => !message.includes('use of closed network connection') && !message.includes('Canceled'))
    .reduce((n, [, c]) => n + c, 0);
  const at = (percentage: number) => (report.latencyDistribution?.find((d) => d.percentage === percentage)?.latency ?? NaN) / 1e6;
  return { count: codes.OK ?? 0, rps: report.rps, p50Ms: at(50), p99Ms: at(99), errors };
}

// ---- summaries ----

function summary(values: number[], digits = 1, unit = ''): string {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return 'n/a';
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  const f = (v: number) => v.toFixed(digits);
  return sorted.length > 1 ? `${f(median)}${unit} [${f(sorted[0]!)}..${f(sorted.at(-1)!)}]` : `${f(median)}${unit}`;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const mb = (bytes: number) => bytes / 1024 / 1024;
const print = (line = '') => process.stdout.write(`${line}\n`);

// ---- the run ----

print(`airlock bench: node ${process.version}, ${(await import('node:os')).cpus().length} CPUs shared with the harness, the PDS and ghz`);
print(
  `machine reference: ${machineReferenceMs().toFixed(0)} ms for a fixed single-threaded workload (hashing and JSON; lower is faster, to compare runs across machines)`,
);
if (SERVER_ROOT !== ROOT) print(`server from ${SERVER_ROOT}`);
if (args['server-env'].length > 0) print(`server environment: ${args['server-env'].join(' ')}`);
print(`rounds ${ROUNDS}, ${SECONDS} s per ghz run, ${args.concurrency} calls in flight over ${args.connections} connections\n`);

const pds = await startPds();
const account: TestAccount = await pds.createAccount();
const data = tempDir('airlock-bench-');
const env = {
  ...pds.airlockEnv(),
  AIRLOCK_DATA_DIR: data.path,
  AIRLOCK_LOGIN_RATE_PER_MINUTE: '1000000',
  AIRLOCK_MAX_PENDING_LOGINS: String(Math.max(10_000, STREAMS * 2)),
  // Every bench login comes from loopback: one client network.
  AIRLOCK_MAX_PENDING_LOGINS_PER_NETWORK: String(Math.max(10_000, STREAMS * 2)),
  AIRLOCK_HEARTBEAT_INTERVAL: args.heartbeat,
  ...Object.fromEntries(args['server-env'].map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)])),
};
const server = await startServer(env, { inspect: true, profile: args.profile });
const clients = clientsFor(server.grpcTarget);

try {
  // Streams first, on a fresh server.
  if (ONLY.has('streams')) await idleStreams();
  if (ONLY.has('logins')) await loginCpu();
  if (ONLY.has('unary')) await unary();
} finally {
  clients.close();
  await server.stop();
}

async function idleStreams(): Promise<void> {
  // Long enough for at least one heartbeat tick to fall inside each fixed-rate Check window.
  const checkSeconds = Math.max(5, Math.ceil(HEARTBEAT_MS / 1_000) + 2);
  const snapshots = args['heap-snapshots'] ? path.resolve(args['heap-snapshots']) : '';
  if (snapshots) mkdirSync(snapshots, { recursive: true });
  print(`== ${STREAMS} idle AwaitLogin streams, one per pending login (heartbeat ${args.heartbeat}) ==`);
  await call(clients.health, clients.health.check, { service: '' });
  await new Promise((r) => setTimeout(r, 1_000));
  const rssIdle = rssBytes(server.pid);
  const heapIdle = await heapAfterGc(server);
  const memIdle = await memoryBreakdown(server);
  if (snapshots) await heapSnapshot(server, path.join(snapshots, 'idle.heapsnapshot'));
  // What the server costs with no stream at all (timers, sweeps), to tell heartbeats from it.
  const baselineStart = cpuNs(server.pid);
  const baselineT0 = performance.now();
  await new Promise((r) => setTimeout(r, Math.min(IDLE_SECONDS, 5) * 1_000));
  const baselineCpu = (cpuNs(server.pid) - baselineStart) / 1e6 / (performance.now() - baselineT0);
  // Health/Check at a fixed rate below saturation with no stream open: the baseline for the same load with them.
  const checkFixed = { rps: CHECK_RPS, concurrency: CHECK_CONCURRENCY, seconds: checkSeconds };
  const checkBefore = await ghz(server.grpcTarget, 'grpc.health.v1.Health/Check', { service: '' }, checkFixed);
  const streamClients = Array.from({ length: 4 }, () => clientsFor(server.grpcTarget));
  const streams: LoginStream[] = [];
  let next = 0;
  const initiateCpu = cpuNs(server.pid);
  const openingT0 = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < STREAMS) {
        const i = next++;
        const auth = streamClients[i % streamClients.length]!.auth;
        const started = await initiateLogin(auth, account.handle, { deadlineMs: 60_000 });
        const stream = awaitLogin(auth, started.loginId, started.verifier);
        await stream.next('pending', 60_000);
        streams.push(stream);
      }
    }),
  );
  const openingMs = performance.now() - openingT0;
  const openingCpuMs = (cpuNs(server.pid) - initiateCpu) / 1e6;
  await new Promise((r) => setTimeout(r, 1_000));
  const rssOpen = rssBytes(server.pid);
  const heapOpen = await heapAfterGc(server);
  const memOpen = await memoryBreakdown(server);
  const rssAfterGc = rssBytes(server.pid);
  if (snapshots) await heapSnapshot(server, path.join(snapshots, 'open.heapsnapshot'));
  const heartbeats = () => streams.reduce((n, s) => n + s.cases().filter((c) => c === 'heartbeat').length, 0);
  const beatsBefore = heartbeats();
  await startLoopDelay(server);
  const idleStart = cpuNs(server.pid);
  const idleT0 = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1_000));
  const idleCpuMs = (cpuNs(server.pid) - idleStart) / 1e6;
  const idleCpu = idleCpuMs / (performance.now() - idleT0);
  const beats = heartbeats() - beatsBefore;
  const idleLoopDelay = await loopDelayP99(server);
  // The streams have been idle (and heartbeating) a while: memory as a server holding them would have it.
  const rssSteady = rssBytes(server.pid);
  const memSteady = await memoryBreakdown(server);
  await startLoopDelay(server);
  const checkWhileOpen = await ghz(server.grpcTarget, 'grpc.health.v1.Health/Check', { service: '' }, checkFixed);
  const fixedLoopDelay = await loopDelayP99(server);
  const saturated = await ghz(server.grpcTarget, 'grpc.health.v1.Health/Check', { service: '' });
  const beatsAll = heartbeats() - beatsBefore;
  for (const s of streams) s.cancel();
  await Promise.all(streams.map((s) => s.end));
  for (const c of streamClients) c.close();
  await new Promise((r) => setTimeout(r, 3_000));
  const rssClosed = rssBytes(server.pid);
  const heapClosed = await heapAfterGc(server);
  const kB = (bytes: number) => `${(bytes / STREAMS / 1024).toFixed(1)} kB`;
  print(
    `opening (InitiateLogin + AwaitLogin to pending): ${(openingCpuMs / STREAMS).toFixed(2)} ms server CPU per login; ${(openingMs / 1_000).toFixed(0)} s for all ${STREAMS} (8 at a time)`,
  );
  print(
    `server CPU while idle:      ${(idleCpu * 100).toFixed(2)} % of one core over ${IDLE_SECONDS} s (${beats} heartbeats in that time; ${(baselineCpu * 100).toFixed(2)} % with no stream)`,
  );
  if (beats > 0) {
    const perBeatMs = idleCpuMs / beats;
    const aboveBaselineMs = Math.max(0, idleCpuMs - baselineCpu * IDLE_SECONDS * 1_000) / beats;
    print(
      `per heartbeat:              ${(perBeatMs * 1000).toFixed(0)} µs server CPU (all idle CPU / heartbeats), ${(aboveBaselineMs * 1000).toFixed(0)} µs above the no-stream baseline`,
    );
  }
  print(
    `RSS idle / open / after ${IDLE_SECONDS} s idle / closed: ${mb(rssIdle).toFixed(0)} / ${mb(rssOpen).toFixed(0)} / ${mb(rssSteady).toFixed(0)} / ${mb(rssClosed).toFixed(0)} MB`,
  );
  print(
    `RSS per login+stream:       ${kB(rssOpen - rssIdle)} 1 s after the last opened, ${kB(rssSteady - rssIdle)} after ${IDLE_SECONDS} s idle`,
  );
  print(
    `heap after full GC idle / open / closed: ${mb(heapIdle).toFixed(1)} / ${mb(heapOpen).toFixed(1)} / ${mb(heapClosed).toFixed(1)} MB (${kB(heapOpen - heapIdle)} per login+stream)`,
  );
  if (memIdle && memOpen && memSteady) {
    // Where the RSS goes: V8's heap; the rest is malloc (nghttp2, SQLite's page cache, OpenSSL). The idle
    // RSS is read on a fresh server that still holds some start-up garbage, so RSS deltas are a little low
    // (about 15 MB in all at 100 streams, where RSS fell below idle after the opening).
    const split = (m: Record<string, number>, rss: number) => {
      // Resident pages of V8's spaces (committed heapTotal can exceed what is in RSS).
      const heap = m.heapResident! - memIdle.heapResident!;
      return `V8 heap resident ${kB(heap)} (old space ${kB(m.old_space! - memIdle.old_space!)}, new space ${kB(m.new_space! - memIdle.new_space!)}, code and large objects ${kB(m.code_space! + m.large_object_space! - memIdle.code_space! - memIdle.large_object_space!)}); RSS ${kB(rss - rssIdle)}`;
    };
    print(`RSS per login+stream, split: after a full GC ${split(memOpen, rssAfterGc)}`);
    print(`                             after ${IDLE_SECONDS} s idle ${split(memSteady, rssSteady)}`);
  }
  const fixed = (r: GhzResult) =>
    `p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms (${r.rps.toFixed(0)} rps${r.errors ? `, ${r.errors} errors` : ''})`;
  print(`Health/Check at ${CHECK_RPS} rps, ${CHECK_CONCURRENCY} in flight, ${checkSeconds} s (covers a heartbeat tick):`);
  print(`  no stream open:           ${fixed(checkBefore)}`);
  print(`${`  ${STREAMS} streams open:`.padEnd(28)}${fixed(checkWhileOpen)}; event-loop delay p99 ${fixedLoopDelay.toFixed(1)} ms`);
  print(
    `Health/Check saturated (${args.concurrency} in flight; p99 is mostly queueing) while open: ${saturated.rps.toFixed(0)} rps, p99 ${saturated.p99Ms.toFixed(1)} ms${saturated.errors ? `, ${saturated.errors} errors` : ''}`,
  );
  print(`event-loop delay p99 while idle: ${idleLoopDelay.toFixed(1)} ms; heartbeats received in all: ${beatsAll}\n`);
}

async function loginCpu(): Promise<void> {
  print(`== login CPU: ${LOGINS} real logins per round ==`);
  const phases = { initiate: [] as number[], link: [] as number[], callback: [] as number[] };
  const lags: number[] = [];
  const threadsBefore = cpuNsByThread(server.pid);
  for (let round = 0; round < ROUNDS; round++) {
    const sums = { initiate: 0, link: 0, callback: 0 };
    for (let i = 0; i < LOGINS; i++) {
      let t = cpuNs(server.pid);
      const started = await initiateLogin(clients.auth, account.handle);
      const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
      await stream.next('pending');
      sums.initiate += cpuNs(server.pid) - t;
      t = cpuNs(server.pid);
      const page = await openAuthorizePage(started.authorizeUrl);
      sums.link += cpuNs(server.pid) - t;
      const callbackUrl = await decideViaApi(page, account);
      let eventAt = 0;
      stream.call.on('data', (e: { event?: { $case: string } }) => {
        if (e.event?.$case === 'completed') eventAt = performance.now();
      });
      t = cpuNs(server.pid);
      const response = await deliverCallback(callbackUrl);
      const pageAt = performance.now();
      if (response.status !== 200) throw new Error(`callback answered ${response.status}`);
      await stream.next('completed');
      await stream.end;
      sums.callback += cpuNs(server.pid) - t;
      lags.push((eventAt || performance.now()) - pageAt);
    }
    phases.initiate.push(sums.initiate / LOGINS / 1e6);
    phases.link.push(sums.link / LOGINS / 1e6);
    phases.callback.push(sums.callback / LOGINS / 1e6);
  }
  const threadsAfter = cpuNsByThread(server.pid);
  const logins = ROUNDS * LOGINS;
  const perThread = [...threadsAfter]
    .map(([name, ns]) => [name, (ns - (threadsBefore.get(name) ?? 0)) / logins / 1e6] as const)
    .filter(([, ms]) => ms >= 0.05)
    .sort((a, b) => b[1] - a[1]);
  print(`InitiateLogin + stream:     ${summary(phases.initiate, 2, ' ms')}`);
  print(`login link:                 ${summary(phases.link, 2, ' ms')}`);
  print(`callback:                   ${summary(phases.callback, 2, ' ms')}`);
  print(`per login, by thread:       ${perThread.map(([name, ms]) => `${name} ${ms.toFixed(2)} ms`).join(', ')}`);
  print(
    `callback page -> completed event: p50 ${quantile(lags, 0.5).toFixed(2)} ms, p99 ${quantile(lags, 0.99).toFixed(2)} ms (negative: the event came first)\n`,
  );
}

async function unary(): Promise<void> {
  const session = await loginViaApi({ grpcTarget: server.grpcTarget }, account);
  const me = await call(clients.auth, clients.auth.whoAmI, {}, { bearer: session.accessToken });
  if (me.did !== account.did) throw new Error('the benchmark session does not work');
  const allCalls = [
    { name: 'Health/Check', method: 'grpc.health.v1.Health/Check', data: { service: '' } },
    { name: 'WhoAmI', method: 'airlock.auth.v1.AuthService/WhoAmI', data: {}, token: session.accessToken },
    { name: 'ListChannels', method: 'airlock.channels.v1.ChannelsService/ListChannels', data: {}, token: session.accessToken },
    {
      name: 'GetChannelToken',
      method: 'airlock.channels.v1.ChannelsService/GetChannelToken',
      data: { channel_id: 'lobby' },
      token: session.accessToken,
    },
  ];
  const wanted = new Set(['Health/Check', ...args.calls.split(',')]);
  const calls = allCalls.filter((c) => wanted.has(c.name));
  print(`== unary: ghz, ${ROUNDS} alternating rounds ==`);
  const results = new Map(
    calls.map((c) => [c.name, { rps: [] as number[], ratio: [] as number[], cpu: [] as number[], p99: [] as number[], errors: 0 }]),
  );
  for (let round = 0; round < ROUNDS; round++) {
    let checkRps = NaN;
    for (const c of calls) {
      const before = cpuNs(server.pid);
      const r = await ghz(server.grpcTarget, c.method, c.data, { token: c.token });
      const cpuPerCall = (cpuNs(server.pid) - before) / 1e3 / Math.max(1, r.count);
      if (c.name === 'Health/Check') checkRps = r.rps;
      const entry = results.get(c.name)!;
      entry.rps.push(r.rps);
      entry.ratio.push(r.rps / checkRps);
      entry.cpu.push(cpuPerCall);
      entry.p99.push(r.p99Ms);
      entry.errors += r.errors;
    }
  }
  print(`${'call'.padEnd(16)} ${'rps'.padEnd(22)} ${'x Check'.padEnd(20)} ${'server CPU/call'.padEnd(24)} p99`);
  for (const [name, r] of results) {
    print(
      `${name.padEnd(16)} ${summary(r.rps, 0).padEnd(22)} ${summary(r.ratio, 2).padEnd(20)} ${summary(r.cpu, 0, ' µs').padEnd(24)} ${summary(r.p99, 1, ' ms')}${r.errors ? `  (${r.errors} errors)` : ''}`,
    );
  }
  print();
}

if (ONLY.has('cold')) await coldStart();
await pds.stop();
data.remove();

async function coldStart(): Promise<void> {
  print(`== cold start to SERVING: ${COLD} rounds each ==`);
  const cold = { fresh: [] as number[], existing: [] as number[], freshNoCache: [] as number[], existingNoCache: [] as number[] };
  const coldCpu = { fresh: [] as number[], existing: [] as number[], freshNoCache: [] as number[], existingNoCache: [] as number[] };
  const existingDir = tempDir('airlock-bench-cold-');
  for (let round = 0; round < COLD; round++) {
    for (const cache of [true, false]) {
      const extra: Record<string, string> = cache ? {} : { NODE_DISABLE_COMPILE_CACHE: '1' };
      const fresh = tempDir('airlock-bench-cold-');
      const a = await startServer({ ...env, ...extra, AIRLOCK_DATA_DIR: fresh.path });
      await a.stop();
      fresh.remove();
      const b = await startServer({ ...env, ...extra, AIRLOCK_DATA_DIR: existingDir.path });
      await b.stop();
      (cache ? cold.fresh : cold.freshNoCache).push(a.servingAfterMs);
      (cache ? cold.existing : cold.existingNoCache).push(b.servingAfterMs);
      (cache ? coldCpu.fresh : coldCpu.freshNoCache).push(a.servingCpuMs);
      (cache ? coldCpu.existing : coldCpu.existingNoCache).push(b.servingCpuMs);
    }
  }
  existingDir.remove();
  print(`${''.padEnd(28)}${'wall time'.padEnd(26)}${'CPU time'.padEnd(26)}wall / CPU, compile cache off`);
  for (const [label, key] of [
    ['fresh data dir', 'fresh'],
    ['existing data dir', 'existing'],
  ] as const) {
    const off = `${key}NoCache` as const;
    print(
      `${label.padEnd(28)}${summary(cold[key], 0, ' ms').padEnd(26)}${summary(coldCpu[key], 0, ' ms').padEnd(26)}${summary(cold[off], 0, ' ms')} / ${summary(coldCpu[off], 0, ' ms')}`,
    );
  }
}
