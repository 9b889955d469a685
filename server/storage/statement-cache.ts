// better-sqlite3 behind Kysely with its statements kept: Kysely's SQLite
// driver prepares every query again (SQLite parses and plans it each time),
// while Airlock runs a few dozen distinct statements over and over. Keyed by
// the SQL text, whose values are always bound parameters, so the cache is
// bounded by the code's queries, and an LRU cap bounds it anyway.
import type SQLite from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';
import { LRUCache } from 'lru-cache';

/** Distinct statements kept prepared; far above the number Airlock issues. */
export const MAX_CACHED_STATEMENTS = 500;

export function cachingStatements(db: SQLite.Database, max = MAX_CACHED_STATEMENTS): SqliteDatabase & { readonly cached: number } {
  const statements = new LRUCache<string, SqliteStatement>({ max });
  return {
    get cached() {
      return statements.size;
    },
    prepare(sql) {
      let statement = statements.get(sql);
      if (!statement) {
        statement = db.prepare(sql);
        statements.set(sql, statement);
      }
      return statement;
    },
    close() {
      statements.clear();
      db.close();
    },
  };
}
