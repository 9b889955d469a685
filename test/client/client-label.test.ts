// The client library's clientLabel option through a real login: the server
// keeps it with the session and lists it; without it, the user-agent. The
// CLI's own label is "airlock-cli on <host>" (its terminal test checks the
// session a real CLI login makes).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliLabel } from '../../client/cli/program.ts';
import { startLoginWorld, type LoginWorld } from './fixtures.ts';

let world: LoginWorld;

beforeAll(async () => {
  world = await startLoginWorld({ AIRLOCK_LOGIN_RATE_PER_MINUTE: '1000' });
});

afterAll(async () => {
  await world?.stop();
});

describe('clientLabel', () => {
  it('is sent with the login and shown for the session', async () => {
    const { session, account } = await world.signedInClient({ clientLabel: 'Chat on test-laptop' });
    const listed = await world.server.auth.sessions.listLive(account.did);
    expect(listed.map((s) => [s.sessionId, s.clientLabel])).toEqual([[session.sessionId, 'Chat on test-laptop']]);
  });

  it('left out, the session is listed under the user-agent', async () => {
    const { account } = await world.signedInClient();
    const [listed] = await world.server.auth.sessions.listLive(account.did);
    expect(listed?.clientLabel).toMatch(/grpc-node-js\/\d/);
  });

  it("the CLI's label names the host, printable and within the default limit", () => {
    expect(cliLabel('alice-laptop')).toBe('airlock-cli on alice-laptop');
    expect(cliLabel('bad\u0007host\n')).toBe('airlock-cli on badhost');
    expect([...cliLabel('h'.repeat(200))]).toHaveLength(64);
    expect(cliLabel('')).toBe('airlock-cli on unknown host');
  });
});
