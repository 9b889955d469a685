// The client label of a session, through real logins on SQLite and on
// PostgreSQL: the label the app sends at InitiateLogin, or else its gRPC
// user-agent (cut to the limit), is what ListSessions and `admin sessions
// list` show; an over-long, control-character or formatting label is
// INVALID_ARGUMENT and starts no login. The limit is the configured one.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthServiceClient } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { clientLabelOf } from '../../server/login/client-label.ts';
import { REPO_ROOT, startChild, type ChildAirlock } from '../support/airlock.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { initiateLogin, loginViaApi } from '../support/login.ts';
import { startPds, type TestPds } from '../support/pds.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { tempDir } from '../support/settings.ts';

const MAX = 24;

function admin(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'server/main.ts'), 'admin', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, AIRLOCK_LOG_LEVEL: 'silent', ...env },
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

describe.each(['sqlite', 'postgres'] as const)('session client labels on %s', (engine) => {
  let server: ChildAirlock;
  let database: TestDatabase | undefined;
  let dir: ReturnType<typeof tempDir>;
  let env: Record<string, string>;
  let clients: ReturnType<typeof clientsFor>;

  beforeAll(async () => {
    dir = tempDir();
    database = engine === 'postgres' ? await createTestDatabase() : undefined;
    env = { AIRLOCK_DATA_DIR: dir.path, ...(database ? { AIRLOCK_DATABASE_URL: database.url } : {}) };
    server = await startChild({
      ...pds.airlockEnv(),
      ...env,
      AIRLOCK_CLIENT_LABEL_MAX_LENGTH: String(MAX),
      AIRLOCK_LOGIN_RATE_PER_MINUTE: '1000',
    });
    clients = clientsFor(server.grpcTarget);
  });

  afterAll(async () => {
    clients?.close();
    await server?.stop();
    await database?.drop();
    dir?.remove();
  });

  it('shows the label the app sent, else its user-agent, in ListSessions and in admin sessions list', async () => {
    const alice = await pds.createAccount();
    const labelled = await loginViaApi(server, alice, { clientLabel: 'Chat on alice-laptop ✓' });
    const unlabelled = await loginViaApi(server, alice);
    // An app whose user-agent is longer than the limit: it is cut to the limit.
    const verbose = new AuthServiceClient(server.grpcTarget, credentials.createInsecure(), {
      'grpc.primary_user_agent': `VerboseApp/1.0 (${'x'.repeat(60)})`,
    });
    let long: Awaited<ReturnType<typeof loginViaApi>>;
    try {
      long = await loginViaApi(server, alice, { auth: verbose });
    } finally {
      verbose.close();
    }

    const { sessions } = await call(clients.auth, clients.auth.listSessions, {}, { bearer: labelled.accessToken });
    const labelOf = (sessionId: string) => sessions.find((s) => s.sessionId === sessionId)?.clientLabel;
    expect(labelOf(labelled.sessionId)).toBe('Chat on alice-laptop ✓');
    expect(labelOf(unlabelled.sessionId)).toMatch(/^grpc-node-js\/\d+\.\d+\.\d+$/);
    expect(labelOf(long.sessionId)).toBe('VerboseApp/1.0 (xxxxxxxx');
    expect([...labelOf(long.sessionId)!]).toHaveLength(MAX);

    const table = await admin(['sessions', 'list', '--did', alice.did], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^${labelled.sessionId}\\s.*\\slive\\s+Chat on alice-laptop ✓$`, 'm'));
    expect(table.stdout).toMatch(new RegExp(`^${unlabelled.sessionId}\\s.*\\slive\\s+grpc-node-js/\\S+$`, 'm'));
    const json = await admin(['sessions', 'list', '--did', alice.did, '--json'], env);
    const listed = (JSON.parse(json.stdout) as { sessions: Array<{ sessionId: string; clientLabel: string }> }).sessions;
    expect(listed.find((s) => s.sessionId === labelled.sessionId)?.clientLabel).toBe('Chat on alice-laptop ✓');
  });

  it.each([
    ['one character over the configured limit', 'a'.repeat(MAX + 1), /at most 24/],
    ['a control character', 'Chat\u0007', /printable/],
    ['a line break', 'Chat\nrm -rf', /printable/],
    ['a right-to-left override', 'Chat \u202Egnp.exe', /printable/],
    ['only spaces', '   ', /spaces/],
  ])('refuses a label with %s as INVALID_ARGUMENT', async (_what, label, message) => {
    const failure = await grpcFailure(initiateLogin(clients.auth, 'alice.test', { clientLabel: label }));
    expect(failure.code).toBe(status.INVALID_ARGUMENT);
    expect(failure.details).toMatch(message);
  });

  it('accepts a label of exactly the limit, counted in characters', async () => {
    const account = await pds.createAccount();
    const started = await initiateLogin(clients.auth, account.handle, { clientLabel: '✓'.repeat(MAX) });
    expect(started.loginId).toBeTruthy();
  });
});

describe('a user-agent in place of a label', () => {
  it('is cleaned of anything unprintable and cut to the limit', () => {
    expect(clientLabelOf({ label: '', userAgent: 'App/1\u0000\u202E  x', maxLength: 64 })).toBe('App/1 x');
    expect(clientLabelOf({ label: '', userAgent: 'abcdef', maxLength: 3 })).toBe('abc');
    expect(clientLabelOf({ label: '', userAgent: undefined, maxLength: 64 })).toBeUndefined();
    expect(clientLabelOf({ label: ' Chat ', userAgent: 'ignored', maxLength: 64 })).toBe('Chat');
  });
});
