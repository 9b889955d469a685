// `admin keys`: rotate-master re-encrypts every stored secret under a new
// master key (old and new listed together meanwhile), after which the old key
// is no longer needed; rotate publishes a new signing key; list shows them.
// On SQLite and on PostgreSQL.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { masterKeyId } from '../../server/storage/at-rest.ts';
import { REPO_ROOT, startInProcess } from '../support/airlock.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { tempDir } from '../support/settings.ts';

function admin(args: string[], env: Record<string, string>): string {
  return execFileSync(process.execPath, [path.join(REPO_ROOT, 'server/main.ts'), 'admin', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, AIRLOCK_LOG_LEVEL: 'silent', ...env },
    encoding: 'utf8',
  });
}

const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const database of databases) await database.drop();
});

describe.each(['SQLite', 'PostgreSQL'] as const)('admin keys (%s)', (kind) => {
  it('rotate-master re-encrypts under the new key; rotate adds a signing key; the server then runs on the new key alone', async () => {
    const dir = tempDir();
    try {
      const oldKey = randomBytes(32);
      const newKey = randomBytes(32);
      const base: Record<string, string> = { AIRLOCK_DATA_DIR: dir.path };
      if (kind === 'PostgreSQL') {
        const database = await createTestDatabase();
        databases.push(database);
        base.AIRLOCK_DATABASE_URL = database.url;
      }
      const first = await startInProcess({ ...base, AIRLOCK_MASTER_KEY: oldKey.toString('base64') });
      await first.close();

      const listedBefore = admin(['keys', 'list'], { ...base, AIRLOCK_MASTER_KEY: oldKey.toString('base64') });
      expect(listedBefore).toContain(masterKeyId(oldKey));

      // The new key first (it encrypts), the old one after it (still decrypts).
      const both = `${newKey.toString('base64')},${oldKey.toString('base64')}`;
      expect(admin(['keys', 'rotate-master'], { ...base, AIRLOCK_MASTER_KEY: both })).toMatch(/re-encrypted 1 stored secret/);
      expect(admin(['keys', 'rotate-master'], { ...base, AIRLOCK_MASTER_KEY: both })).toMatch(/re-encrypted 0 stored secret/);

      const onlyNew = { ...base, AIRLOCK_MASTER_KEY: newKey.toString('base64') };
      expect(admin(['keys', 'rotate', '--publish-ahead', '0'], onlyNew)).toMatch(/new signing key \S+: published now/);
      const listed = admin(['keys', 'list'], onlyNew).trim().split('\n').slice(1);
      expect(listed).toHaveLength(2);
      for (const line of listed) expect(line.split('\t')[6]).toBe(masterKeyId(newKey));
      expect(listed.join('\n')).not.toContain(masterKeyId(oldKey));

      const second = await startInProcess(onlyNew);
      try {
        const signer = await second.auth.keys.signer();
        expect(listed.some((line) => line.split('\t')[1] === signer.kid)).toBe(true);
      } finally {
        await second.close();
      }
    } finally {
      dir.remove();
    }
  });
});
