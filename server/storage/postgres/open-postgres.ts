// Opens the shared PostgreSQL database of a replica: a pg pool with explicit
// limits, behind a Kysely dialect that turns connection loss into
// UnavailableError (see unavailable-dialect.ts).
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Settings } from '../../config/settings.ts';
import type { Database } from '../schema.ts';
import { UnavailableOnConnectionLossDialect } from './unavailable-dialect.ts';

export type PostgresSettings = Pick<Settings, 'databaseUrl' | 'databasePoolSize'> &
  Partial<Pick<Settings, 'databaseConnectTimeout' | 'databaseStatementTimeout'>>;

export interface OpenPostgres {
  db: Kysely<Database>;
  pool: pg.Pool;
  /** Registers a listener told of every query that failed on a lost or refused connection. */
  onConnectionError(listener: (error: unknown) => void): void;
}

export function postgresPoolConfig(settings: PostgresSettings, applicationName = 'airlock'): pg.PoolConfig {
  return {
    connectionString: settings.databaseUrl,
    max: settings.databasePoolSize,
    // pg-pool applies this both to opening a connection and to waiting for a free one.
    connectionTimeoutMillis: settings.databaseConnectTimeout ?? 5_000,
    // 0 means no limit, as in PostgreSQL.
    statement_timeout: settings.databaseStatementTimeout || undefined,
    // Notice a peer that vanished without closing the socket.
    keepAlive: true,
    application_name: applicationName,
  };
}

export function openPostgres(settings: PostgresSettings): OpenPostgres {
  const pool = new pg.Pool(postgresPoolConfig(settings));
  // An idle client losing its connection must not crash the process; the pool drops it.
  pool.on('error', () => {});
  const listeners: Array<(error: unknown) => void> = [];
  const dialect = new UnavailableOnConnectionLossDialect(new PostgresDialect({ pool }), {
    onConnectionError: (error) => {
      for (const listener of listeners) listener(error);
    },
  });
  return {
    db: new Kysely<Database>({ dialect }),
    pool,
    onConnectionError: (listener) => void listeners.push(listener),
  };
}
