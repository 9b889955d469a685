// What several replicas on one PostgreSQL database share beyond tables: the
// LISTEN connection (login events, revocations), the advisory request lock
// and its pool, and the liveness probe that drives gRPC health. Built by the
// composition root when the engine is PostgreSQL.
import { sql } from 'kysely';
import pg from 'pg';
import type { Settings } from '../config/settings.ts';
import { pgRequestLock } from './pg-request-lock.ts';
import type { RequestLock } from './request-lock.ts';
import type { Logger } from '../observability/logger.ts';
import type { OpenDatabase } from '../storage/database.ts';
import { startupError } from '../storage/schema-setup.ts';
import { mapDatabaseError } from '../storage/postgres/connection-errors.ts';
import { PgListener } from '../storage/postgres/listener.ts';
import { LivenessProbe } from '../storage/postgres/liveness-probe.ts';
import { guardPool, postgresPoolConfig } from '../storage/postgres/open-postgres.ts';
import { PgRevocationFeed } from './revocation-feed.ts';

export type CoordinationSettings = Pick<
  Settings,
  | 'databaseUrl'
  | 'databaseConnectTimeout'
  | 'databaseProbeInterval'
  | 'databaseProbeTimeout'
  | 'databaseReconnectMaxDelay'
  | 'databaseLockTimeout'
  | 'databaseLockPoolSize'
>;

export interface ReplicaCoordination {
  listener: PgListener;
  requestLock: RequestLock;
  revocationFeed: PgRevocationFeed;
  /** Starts the liveness probe; onChange(false) while the database is unreachable. */
  watchHealth(onChange: (healthy: boolean) => void): void;
  /** Stops the probe (first, so it cannot turn health back on during shutdown). */
  stopWatching(): Promise<void>;
  close(): Promise<void>;
}

export async function startReplicaCoordination(options: {
  settings: CoordinationSettings;
  database: OpenDatabase;
  logger: Logger;
}): Promise<ReplicaCoordination> {
  const { settings, database, logger } = options;
  if (!settings.databaseUrl) throw new Error('replica coordination needs a PostgreSQL database URL');
  const listener = new PgListener({
    connectionString: settings.databaseUrl,
    logger,
    connectTimeoutMs: settings.databaseConnectTimeout,
    reconnectMaxDelayMs: settings.databaseReconnectMaxDelay,
  });
  await listener.start().catch((error: unknown) => {
    throw startupError(mapDatabaseError(error));
  });

  // Lock holders keep a connection for a whole upstream refresh: their own pool, no statement timeout.
  const lockPool = guardPool(
    new pg.Pool(
      postgresPoolConfig(
        {
          databaseUrl: settings.databaseUrl,
          databasePoolSize: settings.databaseLockPoolSize,
          databaseConnectTimeout: settings.databaseConnectTimeout,
        },
        'airlock-locks',
      ),
    ),
  );
  const requestLock = pgRequestLock({ pool: lockPool, timeoutMs: settings.databaseLockTimeout, logger });

  const revocationFeed = new PgRevocationFeed({ db: database.db, listener });

  let probe: LivenessProbe | undefined;
  return {
    listener,
    requestLock,
    revocationFeed,
    watchHealth(onChange) {
      probe = new LivenessProbe({
        intervalMs: settings.databaseProbeInterval,
        timeoutMs: settings.databaseProbeTimeout,
        logger,
        onChange,
        check: async () => {
          await sql`select 1`.execute(database.db);
          // Without its LISTEN connection a replica would miss other replicas' events.
          await listener.ping(settings.databaseProbeTimeout);
        },
      });
      database.onConnectionError?.((error) => probe?.reportFailure(error));
      probe.start();
    },
    async stopWatching() {
      await probe?.stop();
    },
    async close() {
      await probe?.stop();
      revocationFeed.close();
      await listener.close();
      await lockPool.end();
    },
  };
}
