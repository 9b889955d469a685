// PostgreSQL for tests: a uniquely named database on the shared server
// (127.0.0.1:5432 by default), created for one suite and dropped after it.
// When no server answers, this throws a message saying how to start one:
// PostgreSQL tests fail, they never skip.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The maintenance database the tests connect to in order to create their own. */
export const POSTGRES_ADMIN_URL = process.env.AIRLOCK_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const HOW_TO_START_POSTGRES =
  'start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` ' +
  '(Debian: apt-get install -y postgresql), or point AIRLOCK_TEST_POSTGRES_URL at a server where the user may create databases';

export interface TestDatabase {
  name: string;
  /** Connection URL of the new database. */
  url: string;
  /** Drops the database, disconnecting whoever still uses it. */
  drop(): Promise<void>;
}

export function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.href;
}

export async function adminQuery(adminUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${redact(adminUrl)} (${(error as Error).message || (error as { code?: string }).code}); ${HOW_TO_START_POSTGRES}`,
      { cause: error },
    );
  }
  try {
    await client.query(text);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Creates an empty database with a unique name. */
export async function createTestDatabase(adminUrl = POSTGRES_ADMIN_URL): Promise<TestDatabase> {
  const name = `airlock_test_${process.pid}_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `create database ${name}`);
  await dropOrphans(adminUrl).catch(() => {});
  return {
    name,
    url: databaseUrl(adminUrl, name),
    drop: () => adminQuery(adminUrl, `drop database if exists ${name} with (force)`),
  };
}

export function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.href;
}

/** Ends every other connection to a database, as an administrator's pg_terminate_backend would. */
export async function terminateConnections(adminUrl: string, database: string, where = 'true'): Promise<number> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const result = await client.query(
      `select count(pg_terminate_backend(pid)) as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid() and (${where})`,
      [database],
    );
    return Number(result.rows[0].n);
  } finally {
    await client.end();
  }
}

// Databases of test processes that died without dropping theirs (the name
// carries the pid; only meaningful for a server on this machine).
async function dropOrphans(adminUrl: string): Promise<void> {
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(adminUrl).hostname)) return;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      `select datname from pg_database d where datname like 'airlock\\_test\\_%' and not exists (select 1 from pg_stat_activity a where a.datname = d.datname)`,
    );
    for (const { datname } of rows) {
      const pid = Number(/^airlock_test_(\d+)_[0-9a-f]+$/.exec(datname)?.[1]);
      if (!pid || pid === process.pid || alive(pid)) continue;
      await client.query(`drop database if exists ${datname} with (force)`);
    }
  } finally {
    await client.end();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
