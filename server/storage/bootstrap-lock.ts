// Serialises a "create it if it does not exist yet" step across replicas,
// e.g. generating the first signing key: replicas starting together on an
// empty PostgreSQL database would otherwise each create their own. On
// PostgreSQL a transaction-scoped advisory lock is held (on one pooled
// connection) while `fn` runs on the pool, and released however `fn` ends;
// the embedded SQLite database serves a single process, so `fn` just runs.
import type { Database } from './schema.ts';
import { createHash } from 'node:crypto';
import { PostgresAdapter, sql, type Kysely } from 'kysely';

/** The first key of Airlock's bootstrap locks ("ARLB"). */
export const BOOTSTRAP_LOCK_NAMESPACE = 0x41524c42;

export async function withBootstrapLock<T>(db: Kysely<Database>, name: string, fn: () => Promise<T>): Promise<T> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return fn();
  const key = createHash('sha256').update(name).digest().readInt32BE(0);
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK_NAMESPACE}::int, ${key}::int)`.execute(trx);
    return fn();
  });
}
