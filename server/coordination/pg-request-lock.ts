// The @atproto/oauth-client `requestLock` across replicas: a PostgreSQL
// session-level advisory lock held on a dedicated connection for as long as
// the library's function runs (an upstream token refresh), so two replicas
// never spend the same upstream refresh token. Waiting is bounded by a
// timeout (lock_timeout, enforced by the server); the lock is released when
// the function ends, normally or by throwing, and dies with its connection.
//
// The connections come from their own small pool: a holder's function itself
// uses the main pool (to store the refreshed session), so sharing one pool
// could starve it. A lock taken while another is held in the same async
// context shares its connection (see `held`).
import pTimeout from 'p-timeout';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { UnavailableError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { mapDatabaseError } from '../storage/postgres/connection-errors.ts';
import type { RequestLock } from './request-lock.ts';

/** The first key of every Airlock request lock ("ARLR"), so they cannot meet other users' advisory locks. */
export const REQUEST_LOCK_NAMESPACE = 0x41524c52;

export class RequestLockTimeoutError extends UnavailableError {
  override name = 'RequestLockTimeoutError';
}

/** A stable 32-bit key for a lock name: the same on every replica. */
export function advisoryKey(name: string): number {
  return createHash('sha256').update(name).digest().readInt32BE(0);
}

export interface PgRequestLockOptions {
  /** A pool used only for locks. */
  pool: pg.Pool;
  /** The longest a caller waits for the lock (connection included). */
  timeoutMs: number;
  logger: Logger;
  namespace?: number;
}

export function pgRequestLock(options: PgRequestLockOptions): RequestLock {
  const namespace = options.namespace ?? REQUEST_LOCK_NAMESPACE;
  // The connection (session) of the lock held by the current async context.
  // A lock taken inside another one (the login broker's completion lock
  // around the library's session lock) reuses it: PostgreSQL sessions can
  // hold several advisory locks, and a second connection per nesting level
  // would deadlock once every pooled connection held an outer lock. (Like
  // every advisory lock of one session, the same name taken again inside is
  // granted at once: re-entrant.)
  const held = new AsyncLocalStorage<Holder>();

  return async (name, fn) => {
    const outer = held.getStore();
    const deadline = Date.now() + options.timeoutMs;
    if (outer?.open) return lockOn(outer, name, fn, deadline);

    const client = await connectWithin(options.pool, options.timeoutMs);
    const holder: Holder = { client, open: true, broken: false, timeoutMs: options.timeoutMs, namespace };
    const onConnectionError = (error: Error) => {
      holder.broken = true;
      options.logger.warn({ err: error, lock: name }, 'request lock connection lost; its locks are gone');
    };
    client.on('error', onConnectionError);
    try {
      return await held.run(holder, () => lockOn(holder, name, fn, deadline));
    } finally {
      holder.open = false;
      client.off('error', onConnectionError);
      // Ending the connection ends its session, and any lock left on it.
      client.release(holder.broken);
    }
  };
}

interface Holder {
  client: pg.PoolClient;
  /** False once the outermost lock ended: late async work must not use the connection. */
  open: boolean;
  /** Set when the connection may still hold a lock or cannot be trusted. */
  broken: boolean;
  timeoutMs: number;
  namespace: number;
}

async function lockOn<T>(holder: Holder, name: string, fn: () => T | PromiseLike<T>, deadline: number): Promise<T> {
  const key = advisoryKey(name);
  const remaining = Math.max(1, deadline - Date.now());
  try {
    // One round trip: set the wait limit for this session, then wait for the lock.
    await holder.client.query(
      `with limit_wait as (select set_config('lock_timeout', $3, false)) select pg_advisory_lock($1, $2) from limit_wait`,
      [holder.namespace, key, `${remaining}ms`],
    );
  } catch (error) {
    // A timed-out wait leaves the connection usable; anything else may not.
    if ((error as { code?: string }).code === '55P03') {
      throw new RequestLockTimeoutError(
        `timed out after ${holder.timeoutMs} ms waiting for another replica to finish with this session; retry`,
      );
    }
    holder.broken = true;
    throw mapDatabaseError(error);
  }
  try {
    return await fn();
  } finally {
    try {
      const result = await holder.client.query<{ unlocked: boolean }>(
        `select pg_advisory_unlock($1, $2) as unlocked, set_config('lock_timeout', '0', false)`,
        [holder.namespace, key],
      );
      if (result.rows[0]?.unlocked !== true) holder.broken = true;
    } catch {
      holder.broken = true;
    }
  }
}

/** pool.connect() bounded by a deadline; a client that arrives late goes back to the pool. */
async function connectWithin(pool: pg.Pool, timeoutMs: number): Promise<pg.PoolClient> {
  const connecting = pool.connect();
  try {
    return await pTimeout(connecting, {
      milliseconds: timeoutMs,
      message: new RequestLockTimeoutError(
        `timed out after ${timeoutMs} ms waiting for a database connection to lock a session refresh; retry`,
      ),
    });
  } catch (error) {
    if (error instanceof RequestLockTimeoutError)
      connecting.then(
        (client) => client.release(),
        () => {},
      );
    throw mapDatabaseError(error);
  }
}
