// AIRLOCK_SIGNING_KEY_ROTATION: a generated signing key that reached the
// configured age is replaced in operation. The new key is in the JWKS before
// it signs, two replicas on one database publish one successor between them,
// and the old key verifies until every token it signed has expired. On SQLite
// (two handles on one file) and on PostgreSQL (two pools on one database).
import { afterAll, describe, expect, it } from 'vitest';
import { loadMasterKeys } from '../../server/storage/at-rest.ts';
import { migrateToLatest, openDatabase } from '../../server/storage/database.ts';
import { SigningKeyRing } from '../../server/tokens/signing-keys.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { tempDir, testSettings } from '../support/settings.ts';

const DAY = 86_400_000;

const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const database of databases) await database.drop();
});

async function databaseEnv(kind: 'SQLite' | 'PostgreSQL'): Promise<Record<string, string>> {
  if (kind === 'SQLite') return {};
  const database = await createTestDatabase();
  databases.push(database);
  return { AIRLOCK_DATABASE_URL: database.url };
}

describe.each(['SQLite', 'PostgreSQL'] as const)('scheduled signing-key rotation (%s)', (kind) => {
  it('publishes the next key before it signs, once across replicas, and retires the old one after the longest token lifetime', async () => {
    const dir = tempDir();
    const settings = testSettings({
      AIRLOCK_DATA_DIR: dir.path,
      AIRLOCK_SIGNING_KEY_ROTATION: '30d',
      AIRLOCK_ACCESS_TOKEN_TTL: '15m',
      ...(await databaseEnv(kind)),
    });
    const sealer = loadMasterKeys(settings);
    const replicas = [openDatabase(settings), openDatabase(settings)];
    try {
      await migrateToLatest(replicas[0]!.db);
      const clock = { now: Date.now() };
      const now = () => clock.now;
      const rings = [];
      for (const r of replicas) rings.push(await SigningKeyRing.open({ db: r.db, settings, sealer, now }));
      const first = await rings[0]!.signer();
      expect((await rings[1]!.signer()).kid).toBe(first.kid);

      // Not due yet: nothing changes.
      clock.now += 29 * DAY;
      await Promise.all(rings.map((ring) => ring.signer()));
      expect((await rings[0]!.jwks()).keys).toHaveLength(1);

      // Due: both replicas sign at once; one successor is published, the old key still signs.
      clock.now += 2 * DAY;
      const signers = await Promise.all(rings.flatMap((ring) => [ring.signer(), ring.signer()]));
      expect(new Set(signers.map((s) => s.kid))).toEqual(new Set([first.kid]));
      const published = (await rings[0]!.jwks()).keys.map((k) => k.kid);
      expect(published).toHaveLength(2);
      const next = published.find((kid) => kid !== first.kid)!;

      // After the publish-ahead delay (reload interval + clock tolerance) the new key signs everywhere.
      clock.now += 60_000 + settings.clockTolerance + 1_000;
      for (const ring of rings) {
        await ring.reload();
        expect((await ring.signer()).kid).toBe(next);
        expect(await ring.verifier(first.kid)).toBeDefined();
      }
      // The old key verifies until its last token expired, then leaves the JWKS.
      clock.now += settings.accessTokenTtl + settings.clockTolerance + 1_000;
      for (const ring of rings) {
        await ring.reload();
        expect(await ring.verifier(first.kid)).toBeUndefined();
      }
      expect((await rings[0]!.jwks()).keys.map((k) => k.kid)).toEqual([next]);
    } finally {
      for (const r of replicas) await r.close();
      dir.remove();
    }
  });
});
