// A copy of the database, taken without the master key, yields no usable
// signing key, PDS token, DPoP key, PKCE verifier or OAuth client key: on
// SQLite (the database file with its -wal and -shm, copied while the server
// runs) and on PostgreSQL (pg_dump). The data directory is 0700 and the key
// and database files 0600 whatever the umask or the directory's mode before.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../server/config/load.ts';
import { storedClientKey } from '../../server/oauth/client-key.ts';
import { GENERATED_KEY_FILE, isSealed, loadMasterKeys, type Sealer } from '../../server/storage/at-rest.ts';
import { sealStoredSecrets } from '../../server/storage/seal-stored-secrets.ts';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { clientsFor } from '../support/grpc.ts';
import { initiateLogin, loginViaApi } from '../support/login.ts';
import { startPds, type TestPds } from '../support/pds.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { TEST_MASTER_KEY, tempDir } from '../support/settings.ts';

// What would give a usable credential if it appeared in clear.
const SECRETS_IN_CLEAR = ['"access_token"', '"refresh_token"', 'dpopJwk', '"verifier"', '"d":"', '"initiatorAddress"'];

let pds: TestPds;
beforeAll(async () => {
  pds = await startPds();
});
afterAll(async () => {
  await pds?.stop();
});

/** A login that completed (an upstream session) and one left pending (an authorization request), plus the client key. */
async function storeEverySecret(airlock: InProcessAirlock, sealer: Sealer): Promise<void> {
  await loginViaApi(airlock, await pds.createAccount());
  const clients = clientsFor(airlock.grpcTarget);
  try {
    const account = await pds.createAccount();
    await initiateLogin(clients.auth, account.handle);
  } finally {
    clients.close();
  }
  await storedClientKey(airlock.database.db, sealer);
}

/** The stored secrets open with the master key: the copy really held them, sealed. */
async function expectSealedSecrets(airlock: InProcessAirlock, sealer: Sealer): Promise<void> {
  const db = airlock.database.db;
  const keys = await db.selectFrom('signing_keys').select(['kid', 'purpose', 'private_jwk']).execute();
  expect(keys.map((k) => k.purpose).sort()).toEqual(['access-token', 'oauth-client']);
  for (const key of keys) {
    expect(isSealed(key.private_jwk)).toBe(true);
    expect(sealer.open(`signing_keys:${key.purpose}:${key.kid}`, key.private_jwk)).toContain('"d":"');
  }
  const sessions = await db.selectFrom('oauth_sessions').select(['sub', 'value']).execute();
  expect(sessions).toHaveLength(1);
  expect(isSealed(sessions[0]!.value)).toBe(true);
  expect(sealer.open(`oauth_sessions:${sessions[0]!.sub}`, sessions[0]!.value)).toContain('refresh_token');
  const states = await db.selectFrom('oauth_states').select(['key', 'value']).execute();
  expect(states.length).toBeGreaterThanOrEqual(1);
  for (const state of states) expect(isSealed(state.value)).toBe(true);
  expect(states.some((s) => sealer.open(`oauth_states:${s.key}`, s.value).includes('dpopJwk'))).toBe(true);
  // The pending login's confirmation code and its initiator's address (personal data).
  const logins = await db.selectFrom('logins').select(['id', 'confirmation']).where('status', '=', 'pending').execute();
  expect(logins.length).toBeGreaterThanOrEqual(1);
  for (const login of logins) {
    expect(isSealed(login.confirmation!)).toBe(true);
    expect(sealer.open(`logins:confirmation:${login.id}`, login.confirmation!)).toContain('"initiatorAddress":"127.0.0.1"');
  }
  // Bound to its row: a sealed value moved to another row does not open.
  expect(() => sealer.open('oauth_sessions:did:plc:someoneelse', sessions[0]!.value)).toThrow(/does not open/);
}

function expectNoSecretIn(copy: string): void {
  for (const secret of SECRETS_IN_CLEAR) expect(copy, `the copy holds ${secret} in clear`).not.toContain(secret);
}

describe('a copy of the database', () => {
  it('SQLite: the files, copied while serving, hold no usable secret; directory 0700, files 0600', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir.path, 'data');
    const oldUmask = process.umask(0o022);
    mkdirSync(dataDir, { mode: 0o755 });
    chmodSync(dataDir, 0o755);
    let airlock: InProcessAirlock | undefined;
    try {
      airlock = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_DATA_DIR: dataDir });
      const sealer = loadMasterKeys({ dataDir, masterKeyFile: '', masterKey: '' });
      await storeEverySecret(airlock, sealer);

      const database = path.join(dataDir, 'airlock.sqlite');
      const copy = ['', '-wal', '-shm']
        .filter((suffix) => existsSync(database + suffix))
        .map((suffix) => readFileSync(database + suffix).toString('latin1'))
        .join('\n');
      expect(copy.length).toBeGreaterThan(0);
      expectNoSecretIn(copy);
      await expectSealedSecrets(airlock, sealer);

      expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      for (const file of ['airlock.sqlite', 'airlock.sqlite-wal', 'airlock.sqlite-shm', GENERATED_KEY_FILE]) {
        expect(statSync(path.join(dataDir, file)).mode & 0o777, file).toBe(0o600);
      }
    } finally {
      process.umask(oldUmask);
      await airlock?.close();
      dir.remove();
    }
  });

  it('PostgreSQL: pg_dump holds no usable secret', async () => {
    const database: TestDatabase = await createTestDatabase();
    const dir = tempDir();
    let airlock: InProcessAirlock | undefined;
    try {
      const masterKeyFile = path.join(dir.path, 'master.key');
      execFileSync('sh', ['-c', `umask 077; head -c 32 /dev/urandom | base64 > ${masterKeyFile}`]);
      airlock = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_DATABASE_URL: database.url, AIRLOCK_MASTER_KEY_FILE: masterKeyFile });
      const sealer = loadMasterKeys({ dataDir: dir.path, masterKeyFile, masterKey: '' });
      await storeEverySecret(airlock, sealer);

      const dump = execFileSync('pg_dump', ['--data-only', database.url], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      expect(dump).toContain('oauth_sessions');
      expectNoSecretIn(dump);
      await expectSealedSecrets(airlock, sealer);
    } finally {
      await airlock?.close();
      await database.drop();
      dir.remove();
    }
  });

  it.each(['SQLite', 'PostgreSQL'] as const)(
    '%s: secrets an earlier version stored in clear are sealed at the next start',
    async (kind) => {
      const dir = tempDir();
      const database = kind === 'PostgreSQL' ? await createTestDatabase() : undefined;
      let airlock: InProcessAirlock | undefined;
      try {
        airlock = await startInProcess({
          ...pds.airlockEnv(),
          AIRLOCK_DATA_DIR: dir.path,
          ...(database ? { AIRLOCK_DATABASE_URL: database.url, AIRLOCK_MASTER_KEY: TEST_MASTER_KEY } : {}),
        });
        const sealer = loadMasterKeys({ dataDir: dir.path, masterKeyFile: '', masterKey: database ? TEST_MASTER_KEY : '' });
        const session = '{"dpopJwk":{"d":"x"},"tokenSet":{"refresh_token":"r"}}';
        await airlock.database.db
          .insertInto('oauth_sessions')
          .values({ sub: 'did:plc:legacy', value: session, updated_at: Date.now() })
          .execute();
        // What the start-up pass does (the server ran it already for its own rows).
        expect(await sealStoredSecrets(airlock.database.db, sealer, { onlyPlaintext: true })).toBe(1);
        const row = await airlock.database.db
          .selectFrom('oauth_sessions')
          .select('value')
          .where('sub', '=', 'did:plc:legacy')
          .executeTakeFirstOrThrow();
        expect(isSealed(row.value)).toBe(true);
        expect(sealer.open('oauth_sessions:did:plc:legacy', row.value)).toBe(session);
      } finally {
        await airlock?.close();
        await database?.drop();
        dir.remove();
      }
    },
  );

  it('production refuses to start without an explicit master key', () => {
    const env = {
      AIRLOCK_MODE: 'production',
      AIRLOCK_PUBLIC_URL: 'https://airlock.example',
      AIRLOCK_LIVEKIT_API_KEY: 'key',
      AIRLOCK_LIVEKIT_API_SECRET: 'a-production-secret',
    };
    expect(() => loadSettings([], env)).toThrow(/master key/);
    expect(() => loadSettings([], { ...env, AIRLOCK_MASTER_KEY: 'A'.repeat(43) })).not.toThrow();
  });
});
