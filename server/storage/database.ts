// Opens Airlock's database: an embedded SQLite file by default, PostgreSQL
// when a database URL is set. Both speak through one Kysely schema.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { ConfigError } from '../config/load.ts';
import type { Settings } from '../config/settings.ts';
import { migrationProvider } from './migrations/index.ts';
import type { Database } from './schema.ts';

export type Engine = 'sqlite' | 'postgres';

export interface OpenDatabase {
  db: Kysely<Database>;
  engine: Engine;
  /** The pg pool, for LISTEN/NOTIFY and advisory locks; absent on SQLite. */
  pool?: pg.Pool;
  close(): Promise<void>;
}

// int8 columns hold epoch milliseconds, well inside Number's safe range.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export function sqliteFile(settings: Pick<Settings, 'dataDir'>): string {
  return path.resolve(settings.dataDir, 'airlock.sqlite');
}

export function openDatabase(settings: Pick<Settings, 'databaseUrl' | 'databasePoolSize' | 'dataDir'>): OpenDatabase {
  if (settings.databaseUrl) {
    const pool = new pg.Pool({ connectionString: settings.databaseUrl, max: settings.databasePoolSize, connectionTimeoutMillis: 5_000 });
    // An idle client losing its connection must not crash the process.
    pool.on('error', () => {});
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, engine: 'postgres', pool, close: () => db.destroy() };
  }
  const file = sqliteFile(settings);
  let sqlite: SQLite.Database;
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    sqlite = new SQLite(file);
  } catch (error) {
    throw new ConfigError(`invalid AIRLOCK_DATA_DIR (--data-dir): cannot open ${file}: ${(error as Error).message}`);
  }
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return { db, engine: 'sqlite', close: () => db.destroy() };
}

export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
