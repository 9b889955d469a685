// The revocation check's cache (lru-cache): a live answer is trusted for its
// TTL and then asked again, a revoked answer is final, the cache is bounded,
// and an invalidation is honoured at once. Real SQLite, a clock the test moves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RevocationCheck } from '../../server/sessions/revocation-check.ts';
import { migrateToLatest, openDatabase, type OpenDatabase } from '../../server/storage/database.ts';
import { tempDir, testSettings } from '../support/settings.ts';

const dir = tempDir();
let database: OpenDatabase;
const clock = { now: 1_000_000 };

beforeAll(async () => {
  database = openDatabase(testSettings({ AIRLOCK_DATA_DIR: dir.path }));
  await migrateToLatest(database.db);
});

afterAll(async () => {
  await database?.close();
  dir.remove();
});

async function session(id: string, revoked = false): Promise<void> {
  const now = Date.now();
  await database.db
    .insertInto('sessions')
    .values({
      id,
      did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz',
      handle: 'a.test',
      pds_url: 'http://pds.invalid',
      created_at: now,
      refreshed_at: now,
      idle_expires_at: now + 1e9,
      absolute_expires_at: now + 1e9,
      revoked_at: revoked ? now : null,
      revoked_reason: revoked ? 'logout' : null,
      upstream_id: null,
    })
    .execute();
}

async function setRevoked(id: string, revoked: boolean): Promise<void> {
  await database.db
    .updateTable('sessions')
    .set({ revoked_at: revoked ? Date.now() : null, revoked_reason: revoked ? 'logout' : null })
    .where('id', '=', id)
    .execute();
}

describe('RevocationCheck', () => {
  it('trusts a live answer for its TTL, then asks the database again', async () => {
    const check = new RevocationCheck({ db: database.db, ttlMs: 10_000, maxEntries: 100, now: () => clock.now });
    await session('live-1');
    expect(await check.isRevoked('live-1')).toBe(false);
    await setRevoked('live-1', true);
    clock.now += 9_000;
    expect(await check.isRevoked('live-1')).toBe(false);
    clock.now += 2_000;
    expect(await check.isRevoked('live-1')).toBe(true);
  });

  it('keeps a revoked answer for good, and treats an unknown session as revoked', async () => {
    const check = new RevocationCheck({ db: database.db, ttlMs: 10_000, maxEntries: 100, now: () => clock.now });
    await session('gone-1', true);
    expect(await check.isRevoked('gone-1')).toBe(true);
    await setRevoked('gone-1', false);
    clock.now += 1e9;
    expect(await check.isRevoked('gone-1')).toBe(true);
    expect(await check.isRevoked('never-existed')).toBe(true);
  });

  it('is bounded, and forgets an invalidated session at once', async () => {
    const check = new RevocationCheck({ db: database.db, ttlMs: 60_000, maxEntries: 2, now: () => clock.now });
    for (const id of ['b-1', 'b-2', 'b-3']) {
      await session(id);
      expect(await check.isRevoked(id)).toBe(false);
    }
    expect(check.size).toBe(2);
    await setRevoked('b-3', true);
    expect(await check.isRevoked('b-3')).toBe(false);
    check.invalidate('b-3');
    expect(await check.isRevoked('b-3')).toBe(true);
  });

  it('with a TTL of 0 never caches a live answer', async () => {
    const check = new RevocationCheck({ db: database.db, ttlMs: 0, maxEntries: 1, now: () => clock.now });
    await session('z-1');
    expect(await check.isRevoked('z-1')).toBe(false);
    await setRevoked('z-1', true);
    expect(await check.isRevoked('z-1')).toBe(true);
  });
});
