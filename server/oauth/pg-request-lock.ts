// The @atproto/oauth-client `requestLock` across replicas: a PostgreSQL
// session-level advisory lock held on a dedicated connection for as long as
// the library's function runs (an upstream token refresh), so two replicas
// never spend the same upstream refresh token. Waiting is bounded by a
// timeout (lock_timeout, enforced by the server); the lock is released when
// the function ends, normally or by throwing, and dies with its connection.
//
// The connections come from their own small pool: a holder's function itself
// uses the main pool (to store the refreshed session), so sharing one pool
// could starve it.
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
  return async (name, fn) => {
    const deadline = Date.now() + options.timeoutMs;
    const key = advisoryKey(name);
    const client = await connectWithin(options.pool, options.timeoutMs);
    let released = false;
    const release = (destroy: boolean) => {
      if (released) return;
      released = true;
      client.release(destroy);
    };
    try {
      const remaining = Math.max(1, deadline - Date.now());
      // One round trip: set the wait limit for this session, then wait for the lock.
      await client.query(
        `with limit_wait as (select set_config('lock_timeout', $3, false)) select pg_advisory_lock($1, $2) from limit_wait`,
        [namespace, key, `${remaining}ms`],
      );
    } catch (error) {
      // A timed-out wait leaves the connection usable; anything else may not.
      const timedOut = (error as { code?: string }).code === '55P03';
      release(!timedOut);
      if (timedOut) throw new RequestLockTimeoutError(`timed out after ${options.timeoutMs} ms waiting for another refresh of the same session; retry`);
      throw mapDatabaseError(error);
    }
    const onConnectionError = (error: Error) => {
      options.logger.warn({ err: error, lock: name }, 'request lock connection lost while held; the lock is gone');
    };
    client.on('error', onConnectionError);
    try {
      return await fn();
    } finally {
      client.off('error', onConnectionError);
      try {
        const result = await client.query<{ unlocked: boolean }>(`select pg_advisory_unlock($1, $2) as unlocked, set_config('lock_timeout', '0', false)`, [namespace, key]);
        release(result.rows[0]?.unlocked !== true);
      } catch {
        // Ending the connection ends its session, and the lock with it.
        release(true);
      }
    }
  };
}

/** pool.connect() bounded by a deadline; a client that arrives late goes back to the pool. */
async function connectWithin(pool: pg.Pool, timeoutMs: number): Promise<pg.PoolClient> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const connecting = pool.connect();
  try {
    return await Promise.race([
      connecting,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          reject(new RequestLockTimeoutError(`timed out after ${timeoutMs} ms waiting for a database connection to lock a session refresh; retry`));
        }, timeoutMs);
      }),
    ]);
  } catch (error) {
    if (timedOut) connecting.then((client) => client.release(), () => {});
    throw mapDatabaseError(error);
  } finally {
    clearTimeout(timer);
  }
}
