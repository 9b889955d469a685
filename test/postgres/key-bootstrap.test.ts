// Replicas starting at the same moment on an empty PostgreSQL database agree
// on one access-token signing key and one OAuth client key (the bootstrap
// advisory lock), instead of each generating its own.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { storedClientKey } from '../../server/oauth/client-key.ts';
import { masterKeyId, Sealer } from '../../server/storage/at-rest.ts';
import { migrateToLatest } from '../../server/storage/database.ts';
import { SigningKeyRing } from '../../server/tokens/signing-keys.ts';
import { testSettings } from '../support/settings.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { openTestDatabase } from './pg-fixture.ts';

describe('key bootstrap across replicas', () => {
  it('give six replicas starting together one signing key and one OAuth client key', async () => {
    const database = await createTestDatabase();
    const replicas = Array.from({ length: 6 }, () => openTestDatabase(database.url));
    try {
      await migrateToLatest(replicas[0]!.db);
      const settings = testSettings({ AIRLOCK_DATA_DIR: '/nonexistent' });
      const key = randomBytes(32);
      const sealer = new Sealer([{ id: masterKeyId(key), key }]);
      const rings = await Promise.all(replicas.map((r) => SigningKeyRing.open({ db: r.db, settings, sealer })));
      const clientKeys = await Promise.all(replicas.map((r) => storedClientKey(r.db, sealer)));

      const rows = await replicas[0]!.db.selectFrom('signing_keys').select(['kid', 'purpose']).execute();
      expect(rows.filter((r) => r.purpose === 'access-token')).toHaveLength(1);
      expect(rows.filter((r) => r.purpose === 'oauth-client')).toHaveLength(1);
      const signers = await Promise.all(rings.map((ring) => ring.signer()));
      expect(new Set(signers.map((s) => s.kid)).size).toBe(1);
      expect(new Set(clientKeys.map((k) => k.kid)).size).toBe(1);
    } finally {
      for (const r of replicas) await r.close();
      await database.drop();
    }
  });
});
