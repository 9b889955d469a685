// The shared machinery behind waiting AwaitLogin streams: one deadline heap
// for every expiry, one interval for every heartbeat, one query per tick to
// re-read every watched login (on SQLite and PostgreSQL), and no store read
// per heartbeat.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DeadlineQueue } from '../../server/login/deadline-queue.ts';
import { InProcessLoginEventBus } from '../../server/coordination/in-process-event-bus.ts';
import { LoginStore, type StoredResult } from '../../server/login/login-store.ts';
import { LoginWatches, type WatchEvent } from '../../server/login/login-watches.ts';
import { createLogger } from '../../server/observability/logger.ts';
import { Sealer } from '../../server/storage/at-rest.ts';
import { migrateToLatest, openDatabase, type OpenDatabase } from '../../server/storage/database.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { tempDir, testSettings } from '../support/settings.ts';

const logger = createLogger({ logLevel: 'silent', logFormat: 'json' });

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function newLogin(i: number, expiresAt = Date.now() + 600_000) {
  return {
    ref: `ref-${i}`,
    loginIdHash: `id-${i}`,
    linkRefHash: `link-${i}`,
    verifierChallenge: 'x'.repeat(43),
    identifier: 'someone.test',
    createdAt: Date.now(),
    expiresAt,
    authorizeUrl: 'http://127.0.0.1:1/authorize',
    resultKey: 'key',
    confirmation: { code: 'ABCD-EFGH', initiatorAddress: '127.0.0.1' },
    initiatorNetwork: '127.0.0.1',
  };
}

const sealer = new Sealer([{ id: 'test-key', key: randomBytes(32) }]);

const FAILED: StoredResult = { type: 'failed', reason: 'access-denied', message: 'denied' };

describe('DeadlineQueue', () => {
  it('fires deadlines in time order from one timer, never a cancelled one, and holds no timer when empty', async () => {
    const queue = new DeadlineQueue();
    const fired: string[] = [];
    const now = Date.now();
    queue.schedule(now + 60, () => fired.push('c'));
    queue.schedule(now + 20, () => fired.push('a'));
    const cancel = queue.schedule(now + 40, () => fired.push('cancelled'));
    queue.schedule(now + 40, () => fired.push('b'));
    queue.schedule(now - 5, () => fired.push('past'));
    expect(queue.timers).toBe(1);
    expect(queue.size).toBe(5);
    cancel();
    cancel();
    expect(queue.size).toBe(4);
    await until(() => fired.length === 4, 'all deadlines');
    expect(fired).toEqual(['past', 'a', 'b', 'c']);
    expect(queue.size).toBe(0);
    expect(queue.timers).toBe(0);
  });

  it('keeps order through many random insertions and removals', async () => {
    const queue = new DeadlineQueue();
    const fired: number[] = [];
    const now = Date.now() + 50;
    const cancels = new Map<number, () => void>();
    for (let i = 0; i < 500; i++) {
      const at = now + Math.floor(Math.random() * 100);
      cancels.set(
        i,
        queue.schedule(at, () => fired.push(at)),
      );
    }
    for (let i = 0; i < 500; i += 3) cancels.get(i)!();
    const expected = 500 - Math.ceil(500 / 3);
    expect(queue.size).toBe(expected);
    await until(() => fired.length === expected, 'the remaining deadlines');
    expect(fired).toEqual([...fired].sort((a, b) => a - b));
    expect(queue.timers).toBe(0);
  });
});

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`LoginStore.progressOf on ${engine}`, () => {
    let open: OpenDatabase;
    let pg: TestDatabase | undefined;
    const dir = tempDir();

    beforeAll(async () => {
      if (engine === 'postgres') pg = await createTestDatabase();
      open = openDatabase(testSettings({ AIRLOCK_DATA_DIR: dir.path, ...(pg ? { AIRLOCK_DATABASE_URL: pg.url } : {}) }));
      await migrateToLatest(open.db);
    });

    afterAll(async () => {
      await open?.close();
      await pg?.drop();
      dir.remove();
    });

    it('answers for thousands of refs in one query: only the logins with progress', async () => {
      const store = new LoginStore(open.db, { sealer });
      for (let i = 0; i < 3_000; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => store.insert(newLogin(i + j))));
      await store.markBrowserOpened('ref-10', 1234);
      await store.finish('ref-2999', FAILED, 5678);
      const refs = Array.from({ length: 3_000 }, (_, i) => `ref-${i}`);
      const progress = await store.progressOf([...refs, 'unknown-ref']);
      expect(progress.sort((a, b) => a.ref.localeCompare(b.ref))).toEqual([
        { ref: 'ref-10', browserOpenedAt: 1234, result: null },
        { ref: 'ref-2999', browserOpenedAt: null, result: FAILED },
      ]);
      expect(await store.progressOf([])).toEqual([]);
      // A ref that looks like SQL is only a value.
      expect(await store.progressOf(["ref-10') or 1=1 --"])).toEqual([]);
    });
  });
}

describe('LoginWatches', () => {
  let open: OpenDatabase;
  const dir = tempDir();

  beforeAll(async () => {
    open = openDatabase(testSettings({ AIRLOCK_DATA_DIR: dir.path }));
    await migrateToLatest(open.db);
  });

  afterAll(async () => {
    await open?.close();
    dir.remove();
  });

  it('heartbeats every stream from one interval with one re-read query per tick and no read per stream, and delivers a result the bus never announced', async () => {
    const store = new LoginStore(open.db, { sealer });
    // Count the store's calls (the store itself is the real one).
    const calls = { byRef: 0, progressOf: 0 };
    const counted = {
      byRef: (ref: string) => {
        calls.byRef++;
        return store.byRef(ref);
      },
      progressOf: (refs: readonly string[]) => {
        calls.progressOf++;
        return store.progressOf(refs);
      },
    };
    const bus = new InProcessLoginEventBus();
    const watches = new LoginWatches({ store: counted, bus, heartbeatInterval: 100, logger });
    const received = new Map<string, WatchEvent[]>();
    const leaves: Array<() => void> = [];
    for (let i = 0; i < 20; i++) {
      const login = newLogin(1_000 + i);
      await store.insert(login);
      // Two streams per login.
      for (let s = 0; s < 2; s++) {
        const events: WatchEvent[] = [];
        received.set(`${login.ref}#${s}`, events);
        leaves.push(watches.join(login.ref, login.expiresAt, (e) => events.push(e)));
      }
    }
    expect(watches.streams).toBe(40);
    expect(watches.timers).toBe(2);
    expect(bus.listenerCount).toBe(20);

    const beats = () => Math.min(...[...received.values()].map((events) => events.filter((e) => e.type === 'heartbeat').length));
    await until(() => beats() >= 3, 'three heartbeats on every stream');
    expect(calls.byRef).toBe(0);
    // One query per tick for all 20 logins, not one per stream.
    expect(calls.progressOf).toBeGreaterThanOrEqual(2);
    expect(calls.progressOf).toBeLessThanOrEqual(beats() + 1);

    // Finished in the store, never announced: the next tick delivers it to that login's streams only.
    await store.finish('ref-1005', FAILED, Date.now());
    await until(
      () => received.get('ref-1005#0')!.some((e) => e.type === 'result') && received.get('ref-1005#1')!.some((e) => e.type === 'result'),
      'the result',
    );
    expect(received.get('ref-1006#0')!.some((e) => e.type === 'result')).toBe(false);

    for (const leave of leaves) leave();
    expect(watches.streams).toBe(0);
    expect(watches.timers).toBe(0);
    expect(bus.listenerCount).toBe(0);
  });

  it('an announced finish costs one read for all streams of the login; expiry reaches streams that join after it fired', async () => {
    const store = new LoginStore(open.db, { sealer });
    const calls = { byRef: 0 };
    const counted = {
      byRef: (ref: string) => {
        calls.byRef++;
        return store.byRef(ref);
      },
      progressOf: (refs: readonly string[]) => store.progressOf(refs),
    };
    const bus = new InProcessLoginEventBus();
    const watches = new LoginWatches({ store: counted, bus, heartbeatInterval: 60_000, logger });

    const finished = newLogin(2_000);
    await store.insert(finished);
    const results: WatchEvent[] = [];
    const leaves = Array.from({ length: 5 }, () =>
      watches.join(finished.ref, finished.expiresAt, (e) => e.type === 'result' && results.push(e)),
    );
    await store.finish(finished.ref, FAILED, Date.now());
    await bus.publish(finished.ref, { type: 'finished' });
    await until(() => results.length === 5, 'the result on all five streams');
    expect(calls.byRef).toBe(1);
    for (const leave of leaves) leave();

    const expiring = newLogin(2_001, Date.now() + 50);
    await store.insert(expiring);
    const early: WatchEvent[] = [];
    const leaveEarly = watches.join(expiring.ref, expiring.expiresAt, (e) => early.push(e));
    await until(() => early.some((e) => e.type === 'expired'), 'expiry');
    // The first stream has not left yet; a second joins after the expiry fired.
    const late: WatchEvent[] = [];
    const leaveLate = watches.join(expiring.ref, expiring.expiresAt, (e) => late.push(e));
    await until(() => late.some((e) => e.type === 'expired'), 'expiry for the late stream');
    leaveEarly();
    leaveLate();
    expect(watches.timers).toBe(0);
  });

  it("deliver hands a result to this process's streams without the bus or the store, and resolves once each has sent it or left", async () => {
    const reads = { byRef: 0, progressOf: 0 };
    const store = {
      byRef: async () => {
        reads.byRef++;
        return undefined;
      },
      progressOf: async () => {
        reads.progressOf++;
        return [];
      },
    };
    const bus = new InProcessLoginEventBus();
    const watches = new LoginWatches({ store, bus, heartbeatInterval: 60_000, logger });
    // A login with nobody watching here: nothing to wait for.
    let resolved = false;
    await watches.deliver('ref-none', FAILED, 60_000).then(() => (resolved = true));
    expect(resolved).toBe(true);

    const got: Array<Extract<WatchEvent, { type: 'result' }>> = [];
    const leaveA = watches.join('ref-d', Date.now() + 600_000, (e) => e.type === 'result' && got.push(e));
    const leaveB = watches.join('ref-d', Date.now() + 600_000, (e) => e.type === 'result' && got.push(e));
    const leaveC = watches.join('ref-d', Date.now() + 600_000, (e) => e.type === 'result' && got.push(e));
    let done = false;
    // A wait far beyond the test's own timeout: only the streams can resolve it.
    const delivered = watches.deliver('ref-d', FAILED, 3_600_000).then(() => (done = true));
    expect(got.map((e) => e.result)).toEqual([FAILED, FAILED, FAILED]);
    got[0]!.written!();
    got[0]!.written!();
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    got[1]!.written!();
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    // The third stream ends without sending it: nobody waits for it any longer.
    leaveC();
    await delivered;
    expect(done).toBe(true);

    // An announcement of the same result costs no read: the streams already have it.
    await bus.publish('ref-d', { type: 'finished' });
    await new Promise((r) => setImmediate(r));
    expect(reads).toEqual({ byRef: 0, progressOf: 0 });
    leaveA();
    leaveB();
    expect(watches.streams).toBe(0);
    expect(watches.timers).toBe(0);
  });

  it('deliver stops waiting after its bound when a stream never sends', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const watches = new LoginWatches({
        store: { byRef: async () => undefined, progressOf: async () => [] },
        bus: new InProcessLoginEventBus(),
        heartbeatInterval: 60_000,
        logger,
      });
      const leave = watches.join('ref-stuck', Date.now() + 600_000, () => {});
      let done = false;
      const delivered = watches.deliver('ref-stuck', FAILED, 250).then(() => (done = true));
      await vi.advanceTimersByTimeAsync(249);
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await delivered;
      expect(done).toBe(true);
      leave();
    } finally {
      vi.useRealTimers();
    }
  });
});
