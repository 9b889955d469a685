// The mapping of PostgreSQL connection failures to UnavailableError, at the
// level of the database handle every store uses: refused connections,
// backends terminated mid-query and mid-transaction, statement timeouts;
// ordinary SQL errors pass through untouched; the pool heals by itself.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../server/errors.ts';
import { DatabaseUnavailableError } from '../../server/storage/postgres/connection-errors.ts';
import { createTestDatabase, HOW_TO_START_POSTGRES, POSTGRES_ADMIN_URL, terminateConnections } from '../support/postgres.ts';
import { openTestDatabase, sleep, useTestDatabase } from './pg-fixture.ts';

describe('database connection faults', () => {
  const database = useTestDatabase();

  it('test support fails (never skips) with how to start PostgreSQL when none answers', async () => {
    const error = await createTestDatabase('postgres://postgres@127.0.0.1:1/postgres').catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain('PostgreSQL is not reachable at postgres://postgres@127.0.0.1:1/postgres');
    expect((error as Error).message).toContain(HOW_TO_START_POSTGRES);
  });

  it('answer UNAVAILABLE with one clear message when the server refuses connections, and report it', async () => {
    const open = openTestDatabase('postgres://postgres:s3cret@127.0.0.1:1/airlock');
    const seen: unknown[] = [];
    open.onConnectionError!((e) => seen.push(e));
    try {
      const error = await sql`select 1`.execute(open.db).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DatabaseUnavailableError);
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as Error).message).toBe('the database is unreachable; retry shortly');
      expect((error as Error).message).not.toContain('s3cret');
      expect(((error as Error).cause as { code?: string }).code).toBe('ECONNREFUSED');
      expect(seen).toHaveLength(1);
    } finally {
      await open.close();
    }
  });

  it('map a backend terminated during a query or a transaction, then heal on the next call', async () => {
    const open = openTestDatabase(database().url);
    try {
      const query = sql`select pg_sleep(5)`.execute(open.db).catch((e: unknown) => e);
      await sleep(200);
      await terminateConnections(POSTGRES_ADMIN_URL, database().name);
      const error = await query;
      expect(error).toBeInstanceOf(DatabaseUnavailableError);
      expect(((error as Error).cause as { code?: string }).code).toBe('57P01');

      const inTransaction = open.db
        .transaction()
        .execute(async (trx) => {
          await sql`select 1`.execute(trx);
          await sql`select pg_sleep(5)`.execute(trx);
        })
        .catch((e: unknown) => e);
      await sleep(200);
      await terminateConnections(POSTGRES_ADMIN_URL, database().name);
      expect(await inTransaction).toBeInstanceOf(DatabaseUnavailableError);

      // The pool dropped the dead connections: the next call just works.
      expect((await sql<{ n: number }>`select 1 as n`.execute(open.db)).rows).toEqual([{ n: 1 }]);
    } finally {
      await open.close();
    }
  });

  it('map the statement timeout to UNAVAILABLE without calling the connection lost', async () => {
    const open = openTestDatabase(database().url, { AIRLOCK_DATABASE_STATEMENT_TIMEOUT: '100ms' });
    const seen: unknown[] = [];
    open.onConnectionError!((e) => seen.push(e));
    try {
      const error = await sql`select pg_sleep(1)`.execute(open.db).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DatabaseUnavailableError);
      expect((error as Error).message).toBe('the database did not answer in time; retry shortly');
      expect(seen).toEqual([]);
    } finally {
      await open.close();
    }
  });

  it('leave ordinary SQL errors alone', async () => {
    const open = openTestDatabase(database().url);
    try {
      const error = await sql`select * from no_such_table`.execute(open.db).catch((e: unknown) => e);
      expect(error).not.toBeInstanceOf(UnavailableError);
      expect((error as { code?: string }).code).toBe('42P01');
    } finally {
      await open.close();
    }
  });
});
