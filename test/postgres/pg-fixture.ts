// Shared setup of the PostgreSQL tests: a fresh database per suite, opened
// the way the server opens it.
import { afterAll, beforeAll } from 'vitest';
import { openDatabase, type OpenDatabase } from '../../server/storage/database.ts';
import { createLogger } from '../../server/observability/logger.ts';
import { testSettings } from '../support/settings.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';

export const quietLogger = createLogger({ logLevel: (process.env.AIRLOCK_TEST_LOG_LEVEL as 'silent') ?? 'silent', logFormat: 'json' });

/** Creates a database before the suite and drops it after; `get()` returns it. */
export function useTestDatabase(): () => TestDatabase {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });
  return () => {
    if (!database) throw new Error('the test database was not created');
    return database;
  };
}

export function openTestDatabase(url: string, env: Record<string, string> = {}): OpenDatabase {
  return openDatabase(testSettings({ AIRLOCK_DATABASE_URL: url, AIRLOCK_DATA_DIR: '/nonexistent', ...env }));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
