// A real scrape of the admin listener after real logins, on PostgreSQL, parsed
// as Prometheus text: the gRPC metrics (go-grpc-prometheus names), the login
// and session metrics and the platform ones move, and no label carries a
// DID, a token, a login id or a session id.
import { status } from '@grpc/grpc-js';
import parsePrometheusTextFormat, { type MetricFamily } from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild, type ChildAirlock } from '../support/airlock.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { awaitLogin, initiateLogin, loginViaApiDetailed } from '../support/login.ts';
import { startPds, type TestPds } from '../support/pds.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';

let pds: TestPds;
let database: TestDatabase;
let server: ChildAirlock;
let clients: ReturnType<typeof clientsFor>;

beforeAll(async () => {
  pds = await startPds();
  database = await createTestDatabase();
  server = await startChild({ ...pds.airlockEnv(), AIRLOCK_DATABASE_URL: database.url, AIRLOCK_ADMIN_ADDRESS: '127.0.0.1:0' });
  clients = clientsFor(server.grpcTarget);
});

afterAll(async () => {
  clients?.close();
  await server?.stop();
  await database?.drop();
  await pds?.stop();
});

async function scrape(): Promise<{ text: string; families: Map<string, MetricFamily> }> {
  const response = await fetch(`http://127.0.0.1:${server.adminPort}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  return { text, families: new Map(parsePrometheusTextFormat(text).map((family) => [family.name, family])) };
}

function value(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name);
  if (!family) return 0;
  const sample = family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  if (!sample) return 0;
  return Number(sample.value ?? 0);
}

// Observations of a histogram, over all its series (this parser keeps a histogram's buckets, not its labels).
function observations(families: Map<string, MetricFamily>, name: string): number {
  return (families.get(name)?.metrics ?? []).reduce((total, m) => total + Number(m.buckets?.['+Inf'] ?? 0), 0);
}

const AUTH = 'airlock.auth.v1.AuthService';

describe('Prometheus metrics on the admin listener', () => {
  it('is not on the public HTTP listener', async () => {
    expect((await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).status).toBe(404);
  });

  it('counts a real login, a refresh and a reuse, with no identifying label', async () => {
    const before = (await scrape()).families;
    const account = await pds.createAccount();
    const login = await loginViaApiDetailed(server, account);
    const first = login.session;
    const rotated = await call(clients.auth, clients.auth.refreshSession, { refreshToken: first.refreshToken });
    // The first refresh token again: reuse, so the session is revoked.
    const reuse = await grpcFailure(call(clients.auth, clients.auth.refreshSession, { refreshToken: first.refreshToken }));
    expect(reuse.code).toBe(status.UNAUTHENTICATED);

    const { text, families } = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => value(families, name, labels) - value(before, name, labels);

    // gRPC, as go-grpc-prometheus names it.
    const initiate = { grpc_service: AUTH, grpc_method: 'InitiateLogin', grpc_type: 'unary' };
    expect(delta('grpc_server_started_total', initiate)).toBe(1);
    expect(delta('grpc_server_handled_total', { ...initiate, grpc_code: 'OK' })).toBe(1);
    expect(observations(families, 'grpc_server_handling_seconds')).toBeGreaterThan(observations(before, 'grpc_server_handling_seconds'));
    // The parser drops a labelled histogram's _count series, so read that line from the text itself.
    expect(text).toMatch(/^grpc_server_handling_seconds_count\{[^}]*grpc_method="InitiateLogin"[^}]*\} 1$/m);
    expect(families.get('grpc_server_handling_seconds')?.type).toBe('HISTOGRAM');
    const refresh = { grpc_service: AUTH, grpc_method: 'RefreshSession', grpc_type: 'unary' };
    expect(delta('grpc_server_handled_total', { ...refresh, grpc_code: 'OK' })).toBe(1);
    expect(delta('grpc_server_handled_total', { ...refresh, grpc_code: 'Unauthenticated' })).toBe(1);
    const awaitLogin = { grpc_service: AUTH, grpc_method: 'AwaitLogin', grpc_type: 'server_stream' };
    expect(delta('grpc_server_msg_received_total', awaitLogin)).toBe(1);
    expect(delta('grpc_server_msg_sent_total', awaitLogin)).toBeGreaterThanOrEqual(2); // pending, completed
    expect(value(families, 'airlock_await_login_streams_open')).toBe(0);

    // The domain.
    expect(delta('airlock_logins_initiated_total')).toBe(1);
    expect(delta('airlock_login_outcomes_total', { outcome: 'completed', reason: 'none' })).toBe(1);
    expect(observations(families, 'airlock_login_duration_seconds') - observations(before, 'airlock_login_duration_seconds')).toBe(1);
    expect(delta('airlock_refresh_rotations_total')).toBe(1);
    expect(delta('airlock_refresh_reuse_detections_total')).toBe(1);
    expect(delta('airlock_session_revocations_total', { reason: 'refresh-token-reuse' })).toBe(1);
    expect(value(families, 'airlock_logins_pending')).toBe(0);

    // The platform.
    expect(value(families, 'airlock_database_up')).toBe(1);
    expect(value(families, 'airlock_database_pool_connections_total')).toBeGreaterThanOrEqual(1);
    expect(families.has('nodejs_eventloop_lag_seconds')).toBe(true);
    expect(families.has('process_cpu_seconds_total')).toBe(true);

    // Nothing that identifies a user, a login or a session, anywhere in the scrape.
    const secrets = [
      account.did,
      first.accessToken,
      first.refreshToken,
      rotated.session!.accessToken,
      rotated.session!.refreshToken,
      login.started.loginId,
      login.started.verifier,
    ];
    for (const secret of secrets) expect(text).not.toContain(secret);
    for (const family of families.values()) {
      for (const sample of family.metrics) {
        for (const labelValue of Object.values(sample.labels ?? {})) {
          expect(labelValue).not.toMatch(/did:|eyJ/);
          expect(labelValue.length).toBeLessThan(64);
        }
      }
    }
  });

  it('counts an open AwaitLogin stream while it waits', async () => {
    const account = await pds.createAccount();
    const started = await initiateLogin(clients.auth, account.handle);
    const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
    await stream.next('pending');
    const { families } = await scrape();
    expect(value(families, 'airlock_await_login_streams_open')).toBe(1);
    expect(value(families, 'airlock_logins_pending')).toBe(1);
    stream.cancel();
  });
});
