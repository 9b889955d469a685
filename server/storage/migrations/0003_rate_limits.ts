import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// Counters of rate limits shared by every replica (rate-limiter-flexible's
// RateLimiterPostgres layout). Unused on the embedded SQLite database, where
// one process counts in memory.
export const rateLimits: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('rate_limits')
      .addColumn('key', 'varchar(255)', (c) => c.primaryKey())
      .addColumn('points', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('expire', 'bigint')
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('rate_limits').ifExists().execute();
  },
};
