// The real ghz load generator (reflection only, as `npm run bench` uses it):
// a bounded burst of guarded calls all succeed with a real access token and
// all fail UNAUTHENTICATED without one. Counts only: timings are the
// benchmark's business, never a test's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InProcessAirlock } from '../support/airlock.ts';
import { loginViaApi } from '../support/login.ts';
import { startPdsWithAirlock, type PdsWithAirlock, type TestAccount } from '../support/pds.ts';
import { runTool } from '../support/tools.ts';

let world: PdsWithAirlock;
let account: TestAccount;
let airlock: InProcessAirlock;

beforeAll(async () => {
  world = await startPdsWithAirlock();
  ({ account, airlock } = world);
});

afterAll(() => world?.stop());

interface GhzReport {
  count: number;
  statusCodeDistribution: Record<string, number>;
  errorDistribution?: Record<string, number>;
}

async function ghz(method: string, args: string[]): Promise<GhzReport> {
  const result = await runTool(
    'ghz',
    ['--insecure', '--call', method, '-n', '300', '-c', '8', '--connections', '2', '-O', 'json', ...args, airlock.grpcTarget],
    { timeoutMs: 60_000 },
  );
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as GhzReport;
}

describe('ghz', () => {
  it('drives 300 guarded calls that all succeed with a real token, and all fail without one', async () => {
    const session = await loginViaApi(airlock, account);
    const authorized = await ghz('airlock.channels.v1.ChannelsService.GetChannelToken', [
      '-d',
      JSON.stringify({ channel_id: 'lobby' }),
      '-m',
      JSON.stringify({ authorization: `Bearer ${session.accessToken}` }),
    ]);
    expect(authorized.count).toBe(300);
    expect(authorized.statusCodeDistribution).toEqual({ OK: 300 });

    const anonymous = await ghz('airlock.auth.v1.AuthService.WhoAmI', ['-d', '{}']);
    expect(anonymous.count).toBe(300);
    expect(anonymous.statusCodeDistribution).toEqual({ Unauthenticated: 300 });

    const health = await ghz('grpc.health.v1.Health.Check', ['-d', '{"service": ""}']);
    expect(health.statusCodeDistribution).toEqual({ OK: 300 });
  });
});
