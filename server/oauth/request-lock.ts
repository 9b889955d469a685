// The @atproto/oauth-client `requestLock`: serialises upstream token
// refreshes of one DID so a refresh token is never spent twice. This is the
// single-process implementation; the PostgreSQL one uses advisory locks.
import { Mutex } from 'async-mutex';

export type RequestLock = <T>(name: string, fn: () => T | PromiseLike<T>) => Promise<T>;

export function inProcessRequestLock(): RequestLock {
  const mutexes = new Map<string, { mutex: Mutex; users: number }>();
  return async (name, fn) => {
    let entry = mutexes.get(name);
    if (!entry) mutexes.set(name, (entry = { mutex: new Mutex(), users: 0 }));
    entry.users += 1;
    try {
      return await entry.mutex.runExclusive(async () => await fn());
    } finally {
      entry.users -= 1;
      if (entry.users === 0) mutexes.delete(name);
    }
  };
}
