// `airlock-server migrate` (npm run migrate): applies pending schema
// migrations to the configured database and exits, so operators can migrate
// before rolling out replicas (with AIRLOCK_DATABASE_MIGRATE_ON_START=false).
// `migrate status` lists applied and pending migrations. Settings are read
// and validated exactly as the server reads them.
import { Migrator } from 'kysely/migration';
import { ConfigError, helpText, loadSettings } from '../config/load.ts';
import { migrateToLatest, openDatabase } from './database.ts';
import { migrationProvider } from './migrations/index.ts';
import { startupError } from './schema-setup.ts';

export interface CommandOutput {
  out(line: string): void;
  err(line: string): void;
}

const USAGE = [
  'Usage: airlock-server migrate [status] [--setting value ...]',
  '',
  '  migrate         apply pending schema migrations to AIRLOCK_DATABASE_URL (or the SQLite file in AIRLOCK_DATA_DIR)',
  '  migrate status  list applied and pending migrations; exit code 3 when some are pending',
  '',
  'Settings are those of the server:',
].join('\n');

export async function runMigrateCommand(argv: string[], env: NodeJS.ProcessEnv, io: CommandOutput): Promise<number> {
  const status = argv[0] === 'status';
  const args = status ? argv.slice(1) : argv;
  let settings: ReturnType<typeof loadSettings>['settings'];
  try {
    const loaded = loadSettings(args, env);
    if (loaded.help) {
      const lines = helpText().split('\n');
      io.out(`${USAGE}\n${lines.slice(lines.findIndex((l) => l.startsWith('  --'))).join('\n')}`);
      return 0;
    }
    settings = loaded.settings;
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`airlock: ${error.message}`);
      return 2;
    }
    throw error;
  }

  let database: ReturnType<typeof openDatabase>;
  try {
    database = openDatabase(settings);
  } catch (error) {
    io.err(`airlock: ${(error as Error).message}`);
    return 2;
  }
  const target = database.engine === 'postgres' ? 'PostgreSQL (AIRLOCK_DATABASE_URL)' : `SQLite in ${settings.dataDir}`;
  try {
    if (status) {
      const migrations = await new Migrator({ db: database.db, provider: migrationProvider }).getMigrations();
      for (const m of migrations)
        io.out(`${m.executedAt ? 'applied' : 'pending'}  ${m.name}${m.executedAt ? `  ${m.executedAt.toISOString()}` : ''}`);
      return migrations.some((m) => !m.executedAt) ? 3 : 0;
    }
    const applied = await migrateToLatest(database.db);
    io.out(applied.length > 0 ? `applied to ${target}: ${applied.join(', ')}` : `${target} is up to date`);
    return 0;
  } catch (error) {
    io.err(`airlock: migration failed: ${(startupError(error) as Error).message}`);
    return 1;
  } finally {
    await database.close();
  }
}
