// `node server/main.ts migrate` (npm run migrate) as an operator runs it:
// status, apply, idempotence, the server refusing an unmigrated schema when
// told not to migrate at start, and clear failures.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, startChild } from '../support/airlock.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { migrationProvider } from '../../server/storage/migrations/index.ts';

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'server/main.ts'), ...args], {
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

describe('the migrate command', () => {
  it('lists pending migrations, applies them once, then reports the schema up to date', async () => {
    const database = await createTestDatabase();
    const env = { AIRLOCK_DATABASE_URL: database.url };
    const names = Object.keys(await migrationProvider.getMigrations()).sort();
    try {
      const before = await run(['migrate', 'status'], env);
      expect(before.code).toBe(3);
      for (const name of names) expect(before.stdout).toContain(`pending  ${name}`);

      const applied = await run(['migrate'], env);
      expect(applied.stderr).toBe('');
      expect(applied.code).toBe(0);
      expect(applied.stdout).toBe(`applied to PostgreSQL (AIRLOCK_DATABASE_URL): ${names.join(', ')}\n`);

      const again = await run(['migrate'], env);
      expect(again).toMatchObject({ code: 0, stdout: 'PostgreSQL (AIRLOCK_DATABASE_URL) is up to date\n' });
      const after = await run(['migrate', 'status'], env);
      expect(after.code).toBe(0);
      for (const name of names) expect(after.stdout).toMatch(new RegExp(`applied  ${name}  \\d{4}-`));
    } finally {
      await database.drop();
    }
  });

  it('keep a server told not to migrate from starting on an old schema, and let it start once migrated', async () => {
    const database = await createTestDatabase();
    const env = { AIRLOCK_DATABASE_URL: database.url, AIRLOCK_DATABASE_MIGRATE_ON_START: 'false' };
    try {
      const refused = await run([], { ...env, AIRLOCK_GRPC_ADDRESS: '127.0.0.1:0', AIRLOCK_HTTP_ADDRESS: '127.0.0.1:0' });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(
        /^airlock: the database schema is behind this build \(pending: 0001_initial.*\); run `npm run migrate` first/,
      );

      expect((await run(['migrate'], env)).code).toBe(0);
      const server = await startChild(env);
      try {
        expect(server.logs.some((l) => l.msg === 'database migrated')).toBe(false);
      } finally {
        await server.stop();
      }
    } finally {
      await database.drop();
    }
  });

  it('validate settings like the server and fail clearly when the database cannot be reached', async () => {
    const bad = await run(['migrate', '--database-url', 'mysql://x'], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('airlock: invalid AIRLOCK_DATABASE_URL (--database-url): is not valid\n');

    const down = await run(['migrate'], { AIRLOCK_DATABASE_URL: 'postgres://postgres:s3cret@127.0.0.1:1/airlock' });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^airlock: migration failed: cannot reach the database \(AIRLOCK_DATABASE_URL\): .*ECONNREFUSED/);
    expect(down.stderr).not.toContain('s3cret');

    const help = await run(['migrate', '--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: airlock-server migrate [status]');
    expect(help.stdout).toContain('AIRLOCK_DATABASE_URL');
  });

  it('refuse to start a server whose database cannot be reached, saying so', async () => {
    const down = await run([], {
      AIRLOCK_DATABASE_URL: 'postgres://postgres:s3cret@127.0.0.1:1/airlock',
      AIRLOCK_GRPC_ADDRESS: '127.0.0.1:0',
      AIRLOCK_HTTP_ADDRESS: '127.0.0.1:0',
    });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^airlock: cannot reach the database \(AIRLOCK_DATABASE_URL\): .*ECONNREFUSED/);
    expect(down.stderr).not.toContain('s3cret');
  });
});
