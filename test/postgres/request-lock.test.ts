// The library's requestLock on PostgreSQL advisory locks, between two
// "replicas" (two pools) on one real database.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../server/errors.ts';
import { pgRequestLock, RequestLockTimeoutError } from '../../server/coordination/pg-request-lock.ts';
import { guardPool } from '../../server/storage/postgres/open-postgres.ts';
import type { RequestLock } from '../../server/coordination/request-lock.ts';
import { POSTGRES_ADMIN_URL, terminateConnections } from '../support/postgres.ts';
import { quietLogger, sleep, useTestDatabase } from './pg-fixture.ts';

describe('request lock on PostgreSQL advisory locks', () => {
  const database = useTestDatabase();
  const pools: pg.Pool[] = [];

  function replica(timeoutMs = 5_000, max = 4): { lock: RequestLock; pool: pg.Pool } {
    const pool = guardPool(new pg.Pool({ connectionString: database().url, max, application_name: 'airlock-lock-test' }));
    pools.push(pool);
    return { lock: pgRequestLock({ pool, timeoutMs, logger: quietLogger }), pool };
  }

  afterEach(async () => {
    for (const pool of pools.splice(0)) await pool.end();
  });

  it('let only one replica at a time run the function for one name', async () => {
    const [a, b] = [replica(), replica()];
    let inside = 0;
    let maxInside = 0;
    const order: string[] = [];
    const critical = (who: string) => async () => {
      inside += 1;
      maxInside = Math.max(maxInside, inside);
      order.push(`${who}+`);
      await sleep(30);
      order.push(`${who}-`);
      inside -= 1;
      return who;
    };
    const results = await Promise.all([
      a.lock('did:plc:alice', critical('a1')),
      b.lock('did:plc:alice', critical('b1')),
      a.lock('did:plc:alice', critical('a2')),
      b.lock('did:plc:alice', critical('b2')),
    ]);
    expect(results).toEqual(['a1', 'b1', 'a2', 'b2']);
    expect(maxInside).toBe(1);
    // Strictly nested: every enter is followed by its own exit.
    for (let i = 0; i < order.length; i += 2) expect(order[i]!.slice(0, -1)).toBe(order[i + 1]!.slice(0, -1));
  });

  it('not serialise different names', async () => {
    const [a, b] = [replica(), replica()];
    let inside = 0;
    let maxInside = 0;
    const work = async () => {
      inside += 1;
      maxInside = Math.max(maxInside, inside);
      await sleep(100);
      inside -= 1;
    };
    await Promise.all([a.lock('did:plc:alice', work), b.lock('did:plc:bob', work)]);
    expect(maxInside).toBe(2);
  });

  it('time out with UNAVAILABLE when another replica holds the lock too long, and leave it usable', async () => {
    const [a, b] = [replica(), replica(300)];
    let release!: () => void;
    const held = a.lock('did:plc:alice', () => new Promise<void>((resolve) => (release = resolve)));
    await sleep(50);
    const started = Date.now();
    const error = await b.lock('did:plc:alice', () => 'never').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RequestLockTimeoutError);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toMatch(/timed out after 300 ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(2_000);
    release();
    await held;
    expect(await b.lock('did:plc:alice', () => 'now')).toBe('now');
  });

  it('release the lock when the function throws, and rethrow its error', async () => {
    const [a, b] = [replica(), replica(1_000)];
    const boom = new Error('upstream refresh failed');
    await expect(
      a.lock('did:plc:alice', async () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await b.lock('did:plc:alice', () => 'free')).toBe('free');
    // The connection went back to the pool with no lock left on it.
    const locks = await a.pool.query(`select count(*)::int as n from pg_locks where locktype = 'advisory'`);
    expect(locks.rows[0].n).toBe(0);
  });

  it("free the lock when the holder's connection dies (a crashed replica)", async () => {
    const [a, b] = [replica(), replica(5_000)];
    let entered!: () => void;
    let finish!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const holder = a.lock('did:plc:alice', () => {
      entered();
      return new Promise<string>((resolve) => (finish = () => resolve('done')));
    });
    await inside;
    await terminateConnections(
      POSTGRES_ADMIN_URL,
      database().name,
      `application_name = 'airlock-lock-test' and pid in (select pid from pg_locks where locktype = 'advisory' and granted)`,
    );
    const started = Date.now();
    expect(await b.lock('did:plc:alice', () => 'taken over')).toBe('taken over');
    expect(Date.now() - started).toBeLessThan(2_000);
    // The holder's function still completes; unlocking on the dead connection only discards it.
    finish();
    expect(await holder).toBe('done');
    expect(a.pool.totalCount).toBe(0);
  });

  it('bound the wait for a connection when every lock connection is busy', async () => {
    const a = replica(200, 1);
    let release!: () => void;
    const held = a.lock('did:plc:alice', () => new Promise<void>((resolve) => (release = resolve)));
    await sleep(50);
    await expect(a.lock('did:plc:bob', () => 'x')).rejects.toBeInstanceOf(RequestLockTimeoutError);
    release();
    await held;
    expect(await a.lock('did:plc:bob', () => 'y')).toBe('y');
  });

  it('answer UNAVAILABLE when the database cannot be reached', async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 1_000 });
    pools.push(pool);
    const lock = pgRequestLock({ pool, timeoutMs: 2_000, logger: quietLogger });
    const error = await lock('did:plc:alice', () => 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toBe('the database is unreachable; retry shortly');
  });

  it("take a lock nested in another on the holder's connection, so nesting cannot exhaust the pool", async () => {
    // Two lock connections, eight concurrent "login completions" that each take a session lock inside.
    const [a, b] = [replica(5_000, 2), replica(5_000, 2)];
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        (i % 2 ? a : b).lock(`airlock-login:${i}`, async () => {
          await sleep(20);
          return (i % 2 ? a : b).lock('did:plc:alice', async () => {
            await sleep(5);
            return i;
          });
        }),
      ),
    );
    expect(results).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // A nested lock still excludes other replicas, and is released with the outer one.
    let release!: () => void;
    const outer = a.lock('outer', () => a.lock('did:plc:bob', () => new Promise<void>((resolve) => (release = resolve))));
    await sleep(100);
    const fast = replica(200);
    await expect(fast.lock('did:plc:bob', () => 'x')).rejects.toBeInstanceOf(RequestLockTimeoutError);
    release();
    await outer;
    expect(await fast.lock('did:plc:bob', () => 'y')).toBe('y');
    expect(await fast.lock('outer', () => 'z')).toBe('z');
  });

  it('not lend a released connection to work that outlives its lock', async () => {
    const a = replica(2_000, 2);
    let later!: Promise<string>;
    await a.lock('outer', async () => {
      later = sleep(100).then(() => a.lock('did:plc:carol', () => 'after'));
    });
    expect(await later).toBe('after');
    const locks = await a.pool.query(`select count(*)::int as n from pg_locks where locktype = 'advisory'`);
    expect(locks.rows[0].n).toBe(0);
  });
});
