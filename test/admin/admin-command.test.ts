// `node server/main.ts admin ...` as an operator runs it, against a real
// server's database on SQLite and on PostgreSQL: list a user's sessions,
// revoke one and then all of them (the server refuses their tokens), and read
// the audit log (logins, revocations with who made them, admin actions).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startChild, type ChildAirlock } from '../support/airlock.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { loginViaApi } from '../support/login.ts';
import { startPds, type TestPds } from '../support/pds.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { tempDir } from '../support/settings.ts';

function admin(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'server/main.ts'), 'admin', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, AIRLOCK_LOG_LEVEL: 'silent', AIRLOCK_ADMIN_OPERATOR: 'carol', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

let pds: TestPds;
beforeAll(async () => {
  pds = await startPds();
});
afterAll(async () => {
  await pds?.stop();
});

describe.each(['sqlite', 'postgres'] as const)('the admin command on %s', (engine) => {
  let server: ChildAirlock;
  let database: TestDatabase | undefined;
  let dir: ReturnType<typeof tempDir>;
  let env: Record<string, string>;
  let clients: ReturnType<typeof clientsFor>;

  beforeAll(async () => {
    dir = tempDir();
    database = engine === 'postgres' ? await createTestDatabase() : undefined;
    env = { AIRLOCK_DATA_DIR: dir.path, ...(database ? { AIRLOCK_DATABASE_URL: database.url } : {}) };
    // No cached "alive" answers: an admin revocation from another process applies to the next call.
    server = await startChild({ ...pds.airlockEnv(), ...env, AIRLOCK_REVOCATION_CACHE_TTL: '0' });
    clients = clientsFor(server.grpcTarget);
  });

  afterAll(async () => {
    clients?.close();
    await server?.stop();
    await database?.drop();
    dir?.remove();
  });

  const whoAmI = (bearer: string) => call(clients.auth, clients.auth.whoAmI, {}, { bearer });

  it("lists, revokes one session, then all of a user's, and records it all in the audit log", async () => {
    const alice = await pds.createAccount();
    const bob = await pds.createAccount();
    const first = await loginViaApi(server, alice);
    const second = await loginViaApi(server, alice);
    const bobs = await loginViaApi(server, bob);

    const listed = await admin(['sessions', 'list', '--did', alice.did], env);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^SESSION\s+HANDLE\s+SIGNED IN\s+LAST USED\s+ENDS\s+STATE\s+CLIENT$/);
    expect(lines).toHaveLength(3);
    for (const s of [first, second])
      expect(listed.stdout).toMatch(
        // No client_label sent: the label is grpc-js's user-agent.
        new RegExp(`^${s.sessionId}\\s+${alice.handle.replace(/\./g, '\\.')}\\s+\\S+\\s+\\S+\\s+\\S+\\s+live\\s+grpc-node-js/\\S+$`, 'm'),
      );
    expect(listed.stdout).not.toContain(bobs.sessionId);

    const one = await admin(['sessions', 'revoke', '--session', first.sessionId, '--json'], env);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toEqual({ revoked: [first.sessionId] });
    const refused = await grpcFailure(whoAmI(first.accessToken));
    expect(refused.code).toBe(status.UNAUTHENTICATED);
    expect(refused.reason).toBe('SESSION_REVOKED');
    expect((await whoAmI(second.accessToken)).sessionId).toBe(second.sessionId);

    const all = await admin(['sessions', 'revoke', '--did', alice.did, '--json'], env);
    expect(JSON.parse(all.stdout)).toEqual({ revoked: [second.sessionId] });
    expect((await grpcFailure(whoAmI(second.accessToken))).code).toBe(status.UNAUTHENTICATED);
    expect((await whoAmI(bobs.accessToken)).sessionId).toBe(bobs.sessionId);

    const json = await admin(['sessions', 'list', '--did', alice.did, '--json'], env);
    const view = JSON.parse(json.stdout) as { did: string; sessions: Array<{ sessionId: string; state: string }> };
    expect(view.did).toBe(alice.did);
    expect(view.sessions.map((s) => s.state)).toEqual(['revoked (admin)', 'revoked (admin)']);

    // A user's own logout is recorded with the user as actor.
    await call(clients.auth, clients.auth.logout, { refreshToken: '' }, { bearer: bobs.accessToken });

    const audit = await admin(['audit', '--json', '--limit', '50'], env);
    expect(audit.code).toBe(0);
    const entries = JSON.parse(audit.stdout) as Array<{
      event: string;
      actor: string;
      did: string | null;
      sessionId: string | null;
      detail: string | null;
    }>;
    expect(entries.filter((e) => e.event === 'login-completed' && e.did === alice.did)).toHaveLength(2);
    expect(entries).toContainEqual(
      expect.objectContaining({
        event: 'session-revoked',
        actor: 'admin:carol',
        did: alice.did,
        sessionId: first.sessionId,
        detail: 'admin',
      }),
    );
    expect(entries).toContainEqual(
      expect.objectContaining({ event: 'session-revoked', actor: 'admin:carol', did: alice.did, sessionId: second.sessionId }),
    );
    expect(entries).toContainEqual(
      expect.objectContaining({ event: 'session-revoked', actor: 'user', did: bob.did, sessionId: bobs.sessionId, detail: 'logout' }),
    );
    expect(entries).toContainEqual(expect.objectContaining({ event: 'admin-sessions-list', actor: 'admin:carol', did: alice.did }));

    const text = await admin(['audit', '--did', alice.did], env);
    expect(text.stdout.split('\n')[0]).toMatch(/^AT\s+EVENT\s+ACTOR\s+DID\s+SESSION\s+DETAIL$/);
    expect(text.stdout).toMatch(/session-revoked\s+admin:carol/);
    expect(text.stdout).not.toContain(bob.did);
  });

  it('answers bad usage with a clear error and exit code 2', async () => {
    expect(await admin(['sessions', 'list'], env)).toMatchObject({ code: 2, stderr: 'airlock: sessions list needs --did DID\n' });
    expect((await admin(['sessions', 'revoke', '--did', 'did:plc:x', '--session', 'y'], env)).code).toBe(2);
    expect((await admin(['nonsense'], env)).code).toBe(2);
    expect((await admin(['audit', '--limit', 'lots'], env)).stderr).toBe('airlock: --limit must be a whole number from 1 to 10000\n');
    const missing = await admin(['sessions', 'revoke', '--session', 'no-such-session'], env);
    expect(missing).toMatchObject({ code: 1, stderr: 'airlock: no live session no-such-session\n' });
  });
});
