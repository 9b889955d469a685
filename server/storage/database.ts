// Opens Airlock's database: an embedded SQLite file by default, PostgreSQL
// when a database URL is set. Both speak through one Kysely schema.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresAdapter, sql, SqliteDialect } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { invalidSetting } from '../config/load.ts';
import type { Settings } from '../config/settings.ts';
import { migrationProvider } from './migrations/index.ts';
import { openPostgres, type PostgresSettings } from './postgres/open-postgres.ts';
import type { Database } from './schema.ts';
import { cachingStatements } from './statement-cache.ts';

export type Engine = 'sqlite' | 'postgres';

export interface OpenDatabase {
  db: Kysely<Database>;
  engine: Engine;
  /** The pg pool, for LISTEN/NOTIFY and advisory locks; absent on SQLite. */
  pool?: pg.Pool;
  /** PostgreSQL: registers a listener told of each query that failed on a lost connection. */
  onConnectionError?: (listener: (error: unknown) => void) => void;
  close(): Promise<void>;
}

// int8 columns hold epoch milliseconds, well inside Number's safe range.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export function sqliteFile(settings: Pick<Settings, 'dataDir'>): string {
  return path.resolve(settings.dataDir, 'airlock.sqlite');
}

export function openDatabase(settings: PostgresSettings & Pick<Settings, 'dataDir'>): OpenDatabase {
  if (settings.databaseUrl) {
    const { db, pool, onConnectionError } = openPostgres(settings);
    return { db, engine: 'postgres', pool, onConnectionError, close: () => db.destroy() };
  }
  const file = sqliteFile(settings);
  let sqlite: SQLite.Database;
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // The directory 0700 and the database 0600 whatever the umask or an
    // older mode; SQLite gives its -wal and -shm the database file's mode.
    chmodSync(path.dirname(file), 0o700);
    closeSync(openSync(file, 'a', 0o600));
    for (const suffix of ['', '-wal', '-shm']) if (existsSync(file + suffix)) chmodSync(file + suffix, 0o600);
    sqlite = new SQLite(file);
  } catch (error) {
    throw invalidSetting('dataDir', `cannot open ${file}: ${(error as Error).message}`);
  }
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  for (const suffix of ['-wal', '-shm']) if (existsSync(file + suffix)) chmodSync(file + suffix, 0o600);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingStatements(sqlite) }) });
  return { db, engine: 'sqlite', close: () => db.destroy() };
}

export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  // On PostgreSQL, replicas starting together wait for each other on Kysely's
  // migration lock; neither that wait nor a long migration obeys the server's
  // statement_timeout.
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    return db.connection().execute(async (connection) => {
      await sql`set statement_timeout = 0`.execute(connection);
      try {
        return await runMigrations(connection);
      } finally {
        await sql`reset statement_timeout`.execute(connection).catch(() => {});
      }
    });
  }
  return runMigrations(db);
}

async function runMigrations(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Migrations known to this build and not yet applied to the database. */
export async function pendingMigrations(db: Kysely<Database>): Promise<string[]> {
  const migrations = await new Migrator({ db, provider: migrationProvider }).getMigrations();
  return migrations.filter((m) => m.executedAt === undefined).map((m) => m.name);
}
