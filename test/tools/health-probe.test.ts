// The real grpc_health_probe, as a load balancer or Kubernetes runs it: the
// server as a whole ("") and each Airlock service report SERVING, then
// NOT_SERVING while PostgreSQL is down (a throwaway cluster, stopped for
// real), then SERVING again without a restart; with the probe's exit codes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDisposableCluster, type DisposableCluster } from '../support/postgres-cluster.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { startReplica, type Replica } from '../support/replicas.ts';
import { HEALTH_PROBE_EXIT, runTool } from '../support/tools.ts';

const SERVICES = ['', 'airlock.auth.v1.AuthService', 'airlock.channels.v1.ChannelsService'];

let cluster: DisposableCluster;
let replica: Replica;

beforeAll(async () => {
  cluster = await startDisposableCluster();
  const database = await createTestDatabase(cluster.adminUrl);
  replica = await startReplica('probed', database.url, {
    AIRLOCK_DATABASE_PROBE_INTERVAL: '200ms',
    AIRLOCK_DATABASE_PROBE_TIMEOUT: '500ms',
    AIRLOCK_DATABASE_CONNECT_TIMEOUT: '1s',
    AIRLOCK_DATABASE_RECONNECT_MAX_DELAY: '500ms',
  });
});

afterAll(async () => {
  await replica?.close();
  cluster?.destroy();
});

async function readyz(): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${replica.httpPort}/readyz`);
  return `${response.status} ${await response.text()}`;
}

function probe(service: string, extra: string[] = []) {
  return runTool('grpc_health_probe', [
    `-addr=${replica.grpcTarget}`,
    `-service=${service}`,
    '-connect-timeout=2s',
    '-rpc-timeout=2s',
    ...extra,
  ]);
}

/** Probes until every service gives the exit code (the liveness probe notices within its interval). */
async function untilAll(exitCode: number, timeoutMs = 20_000): Promise<Record<string, string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const results = await Promise.all(SERVICES.map((service) => probe(service)));
    if (results.every((r) => r.code === exitCode)) {
      return Object.fromEntries(SERVICES.map((service, i) => [service || '(server)', `${results[i]!.stdout}${results[i]!.stderr}`.trim()]));
    }
    if (Date.now() > deadline) {
      throw new Error(`not all probes exited ${exitCode}: ${results.map((r) => `${r.code} ${r.stdout}${r.stderr}`).join(' | ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('grpc_health_probe', () => {
  it('reports SERVING, NOT_SERVING while PostgreSQL is down, and SERVING again after', async () => {
    const serving = await untilAll(HEALTH_PROBE_EXIT.SERVING);
    for (const output of Object.values(serving)) expect(output).toBe('status: SERVING');
    expect(await readyz()).toBe('200 ok');

    cluster.stop('immediate');
    try {
      const down = await untilAll(HEALTH_PROBE_EXIT.UNHEALTHY);
      for (const output of Object.values(down)) expect(output).toMatch(/service unhealthy \(responded with "NOT_SERVING"\)/);
      // The HTTP probes agree: not ready, but alive (a restart would not help).
      expect(await readyz()).toBe('503 database unreachable');
      expect((await fetch(`http://127.0.0.1:${replica.httpPort}/livez`)).status).toBe(200);
    } finally {
      cluster.start();
    }

    const back = await untilAll(HEALTH_PROBE_EXIT.SERVING);
    for (const output of Object.values(back)) expect(output).toBe('status: SERVING');
    expect(await readyz()).toBe('200 ok');
  });

  it('gives its documented exit codes for an unknown service, a dead address and bad flags', async () => {
    const unknown = await probe('no.such.Service');
    expect(unknown.code).toBe(HEALTH_PROBE_EXIT.RPC_FAILURE);
    expect(unknown.stderr).toContain('NotFound');

    const dead = await runTool('grpc_health_probe', ['-addr=127.0.0.1:1', '-connect-timeout=1s']);
    expect(dead.code).toBe(HEALTH_PROBE_EXIT.CONNECTION_FAILURE);

    const invalid = await runTool('grpc_health_probe', []);
    expect(invalid.code).toBe(HEALTH_PROBE_EXIT.INVALID_ARGUMENTS);
  });
});
