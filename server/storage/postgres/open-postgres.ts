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

/**
 * A pool whose lost connections never crash the process. pg emits 'error' on
 * a client whose server goes away; the pool listens only while the client is
 * idle, so one checked out at that moment (say, between two statements of a
 * transaction) would throw from an event with no listener. The failing
 * query rejects anyway, and the pool discards the client on release.
 */
export function guardPool(pool: pg.Pool): pg.Pool {
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

export function openPostgres(settings: PostgresSettings): OpenPostgres {
  const pool = guardPool(new pg.Pool(postgresPoolConfig(settings)));
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
