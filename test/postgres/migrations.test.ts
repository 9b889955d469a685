// The embedded schema's migrations on a real, empty PostgreSQL database:
// they apply, they are idempotent, replicas starting together do not race,
// and the tables take the values the stores write.
import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrateToLatest, pendingMigrations } from '../../server/storage/database.ts';
import { migrationProvider } from '../../server/storage/migrations/index.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { openTestDatabase, sleep, useTestDatabase } from './pg-fixture.ts';

// The advisory lock Kysely's PostgreSQL adapter takes around migrations.
const KYSELY_MIGRATION_LOCK = '3853314791062309107';

describe('migrations on PostgreSQL', () => {
  const database = useTestDatabase();

  it('apply every migration to an empty database, then nothing on a second run', async () => {
    const open = openTestDatabase(database().url);
    try {
      const all = Object.keys(await migrationProvider.getMigrations()).sort();
      expect(await pendingMigrations(open.db)).toEqual(all);
      expect(await migrateToLatest(open.db)).toEqual(all);
      expect(await migrateToLatest(open.db)).toEqual([]);
      expect(await pendingMigrations(open.db)).toEqual([]);

      const tables = await open.db.introspection.getTables();
      expect(tables.map((t) => t.name)).toEqual(
        expect.arrayContaining(['signing_keys', 'oauth_states', 'oauth_sessions', 'logins', 'sessions', 'refresh_tokens']),
      );
    } finally {
      await open.close();
    }
  });

  it('store epoch milliseconds as bigint and read them back as numbers', async () => {
    const open = openTestDatabase(database().url);
    try {
      const far = Date.UTC(2100, 0, 1);
      await open.db.insertInto('oauth_states').values({ key: 'k', value: '{}', expires_at: far }).execute();
      const row = await open.db.selectFrom('oauth_states').selectAll().where('key', '=', 'k').executeTakeFirstOrThrow();
      expect(row.expires_at).toBe(far);
      const type = await sql<{
        data_type: string;
      }>`select data_type from information_schema.columns where table_name = 'oauth_states' and column_name = 'expires_at'`.execute(
        open.db,
      );
      expect(type.rows[0]?.data_type).toBe('bigint');
    } finally {
      await open.close();
    }
  });

  it('let three replicas migrate one empty database at the same moment', async () => {
    const fresh = await createTestDatabase();
    const opens = [0, 1, 2].map(() => openTestDatabase(fresh.url));
    try {
      const applied = await Promise.all(opens.map((o) => migrateToLatest(o.db)));
      const all = Object.keys(await migrationProvider.getMigrations()).sort();
      // Exactly one replica applied them; the others found nothing to do.
      expect(applied.filter((a) => a.length > 0)).toEqual([all]);
      expect(await pendingMigrations(opens[0]!.db)).toEqual([]);
    } finally {
      for (const o of opens) await o.close();
      await fresh.drop();
    }
  });

  it('exempt migrations from the server statement timeout', async () => {
    const open = openTestDatabase(database().url, { AIRLOCK_DATABASE_STATEMENT_TIMEOUT: '50ms' });
    // Another replica holds Kysely's migration lock for a while.
    const other = new pg.Client({ connectionString: database().url });
    await other.connect();
    try {
      const timedOut = (await sql`select pg_sleep(0.2)`.execute(open.db).catch((e: unknown) => e)) as Error;
      expect((timedOut.cause as { code?: string }).code).toBe('57014');
      await other.query(`select pg_advisory_lock(${KYSELY_MIGRATION_LOCK})`);
      const released = sleep(300).then(() => other.query(`select pg_advisory_unlock(${KYSELY_MIGRATION_LOCK})`));
      const started = Date.now();
      await migrateToLatest(open.db);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      await released;
    } finally {
      await other.end();
      await open.close();
    }
  });
});
