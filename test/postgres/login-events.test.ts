// The LoginEventBus on LISTEN/NOTIFY between "replicas" (separate pools and
// LISTEN connections on one real database): delivery, latency, release of
// listeners, and recovery after the LISTEN connection is killed by the server.
import { afterEach, describe, expect, it } from 'vitest';
import { PgLoginEventBus } from '../../server/coordination/pg-login-events.ts';
import type { LoginEvent } from '../../server/coordination/login-events.ts';
import type { OpenDatabase } from '../../server/storage/database.ts';
import { PgListener } from '../../server/storage/postgres/listener.ts';
import { adminQuery, POSTGRES_ADMIN_URL, terminateConnections } from '../support/postgres.ts';
import { openTestDatabase, quietLogger, useTestDatabase, waitFor } from './pg-fixture.ts';

interface Replica {
  open: OpenDatabase;
  listener: PgListener;
  bus: PgLoginEventBus;
}

describe('login events over LISTEN/NOTIFY', () => {
  const database = useTestDatabase();
  const replicas: Replica[] = [];

  async function replica(): Promise<Replica> {
    const open = openTestDatabase(database().url);
    const listener = new PgListener({
      connectionString: database().url,
      logger: quietLogger,
      connectTimeoutMs: 2_000,
      reconnectInitialDelayMs: 50,
      reconnectMaxDelayMs: 500,
    });
    await listener.start();
    const r = { open, listener, bus: new PgLoginEventBus({ db: open.db, listener, logger: quietLogger }) };
    replicas.push(r);
    return r;
  }

  afterEach(async () => {
    for (const r of replicas.splice(0)) {
      await r.bus.close();
      await r.listener.close();
      await r.open.close();
    }
  });

  it('deliver an event published on one replica to subscribers on every replica, and only for their login', async () => {
    const [a, b] = [await replica(), await replica()];
    const onA: LoginEvent[] = [];
    const onB: LoginEvent[] = [];
    const other: LoginEvent[] = [];
    a.bus.subscribe('login-1', (e) => onA.push(e));
    b.bus.subscribe('login-1', (e) => onB.push(e));
    b.bus.subscribe('login-2', (e) => other.push(e));

    const at = new Date('2030-01-02T03:04:05.678Z');
    await a.bus.publish('login-1', { type: 'browser-opened', at });
    await b.bus.publish('login-1', { type: 'finished' });
    await waitFor('both events on both replicas', () => onA.length === 2 && onB.length === 2);
    expect(onA).toEqual([{ type: 'browser-opened', at }, { type: 'finished' }]);
    expect(onB).toEqual(onA);
    expect(other).toEqual([]);
  });

  it('count and release listeners; unsubscribing twice is harmless', async () => {
    const a = await replica();
    const offs = Array.from({ length: 1000 }, (_, i) => a.bus.subscribe(`login-${i % 10}`, () => {}));
    expect(a.bus.listenerCount).toBe(1000);
    for (const off of offs) off();
    offs[0]!();
    expect(a.bus.listenerCount).toBe(0);
    const received: LoginEvent[] = [];
    a.bus.subscribe('login-1', (e) => received.push(e));
    await a.bus.publish('login-1', { type: 'finished' });
    await waitFor('the event', () => received.length === 1);
  });

  it('subscribe with no database round trip', async () => {
    const a = await replica();
    const before = a.open.pool!.totalCount;
    const started = performance.now();
    for (let i = 0; i < 10_000; i += 1) a.bus.subscribe(`login-${i}`, () => {})();
    const perSubscribe = (performance.now() - started) / 10_000;
    expect(a.open.pool!.totalCount).toBe(before);
    expect(perSubscribe).toBeLessThan(0.05);
  });

  it('reach another replica within milliseconds (median and p99 of 200 events)', async () => {
    const [a, b] = [await replica(), await replica()];
    const latencies: number[] = [];
    for (let i = 0; i < 200; i += 1) {
      const got = new Promise<number>((resolve) => {
        const off = b.bus.subscribe(`l${i}`, () => {
          off();
          resolve(performance.now());
        });
      });
      const sent = performance.now();
      await a.bus.publish(`l${i}`, { type: 'finished' });
      latencies.push((await got) - sent);
    }
    latencies.sort((x, y) => x - y);
    const median = latencies[100]!;
    const p99 = latencies[197]!;
    console.log(`NOTIFY publish → other replica's listener: median ${median.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`);
    expect(median).toBeLessThan(20);
    expect(p99).toBeLessThan(100);
  });

  it('reconnect after the server terminates the LISTEN connection, and tell subscribers to re-read the store', async () => {
    const [a, b] = [await replica(), await replica()];
    const received: LoginEvent[] = [];
    b.bus.subscribe('login-x', (e) => received.push(e));

    const killed = await terminateConnections(POSTGRES_ADMIN_URL, database().name, `application_name = 'airlock-listener'`);
    expect(killed).toBe(2);
    await waitFor('the listeners to notice', () => !a.listener.connected && !b.listener.connected, 5_000, 5).catch(() => {});
    // Notifications sent while it was away are lost, so it asks for a re-read...
    await waitFor('a resync after reconnection', () => received.length === 1, 5_000);
    expect(received).toEqual([{ type: 'finished' }]);
    expect(b.listener.connected).toBe(true);
    // ...and live delivery resumes.
    await a.bus.publish('login-x', { type: 'browser-opened', at: new Date(1) });
    await waitFor('live delivery after reconnection', () => received.length === 2);
    expect(received[1]).toEqual({ type: 'browser-opened', at: new Date(1) });
  });

  it('keep retrying with backoff while the database refuses connections, and recover when it accepts them', async () => {
    const a = await replica();
    const received: LoginEvent[] = [];
    a.bus.subscribe('login-y', (e) => received.push(e));
    try {
      await adminQuery(POSTGRES_ADMIN_URL, `alter database ${database().name} allow_connections false`);
      await terminateConnections(POSTGRES_ADMIN_URL, database().name, `application_name = 'airlock-listener'`);
      await waitFor('the listener to be down', () => !a.listener.connected, 5_000, 5);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(a.listener.connected).toBe(false);
    } finally {
      await adminQuery(POSTGRES_ADMIN_URL, `alter database ${database().name} allow_connections true`);
    }
    await waitFor('the listener to reconnect', () => a.listener.connected, 5_000);
    await waitFor('the resync', () => received.length === 1);
  });

  it('ping notices a LISTEN connection that answers no more', async () => {
    const a = await replica();
    await a.listener.ping(1_000);
    await terminateConnections(POSTGRES_ADMIN_URL, database().name, `application_name = 'airlock-listener'`);
    await waitFor('reconnection', async () => {
      try {
        await a.listener.ping(1_000);
        return true;
      } catch {
        return false;
      }
    });
  });
});
