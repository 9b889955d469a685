// Brings the schema to this build's version at start (or, when operators
// migrate separately, checks that they did), and turns "cannot reach the
// database" into a start-up error that says so.
import type { Settings } from '../config/settings.ts';
import { ConfigError } from '../config/load.ts';
import type { Logger } from '../observability/logger.ts';
import { migrateToLatest, pendingMigrations, type OpenDatabase } from './database.ts';
import { DatabaseUnavailableError } from './postgres/connection-errors.ts';

export async function prepareSchema(
  database: OpenDatabase,
  settings: Pick<Settings, 'databaseMigrateOnStart'>,
  logger: Logger,
): Promise<void> {
  try {
    if (settings.databaseMigrateOnStart) {
      const applied = await migrateToLatest(database.db);
      if (applied.length > 0) logger.info({ migrations: applied, engine: database.engine }, 'database migrated');
      return;
    }
    const pending = await pendingMigrations(database.db);
    if (pending.length > 0) {
      throw new ConfigError(
        `the database schema is behind this build (pending: ${pending.join(', ')}); run \`npm run migrate\` first, or set AIRLOCK_DATABASE_MIGRATE_ON_START=true`,
      );
    }
  } catch (error) {
    throw startupError(error);
  }
}

/** A database error at start, described for the operator (the cause's text, never the URL's password). */
export function startupError(error: unknown): unknown {
  if (error instanceof DatabaseUnavailableError) {
    const cause = error.cause as { message?: string; code?: string } | undefined;
    return new Error(`cannot reach the database (AIRLOCK_DATABASE_URL): ${cause?.message || cause?.code || 'connection failed'}`, {
      cause: error,
    });
  }
  return error;
}
