// The one way the client changes the stored state: under the in-process
// store mutex AND the store's cross-process lock (when it has one), so
// several processes on one session file never interleave a
// read-modify-write, and whatever runs inside re-reads the state first.
import type { Mutex } from 'async-mutex';
import type { SessionStore } from './storage/session-store.ts';

export function exclusive<T>(mutex: Mutex, store: SessionStore, run: () => Promise<T>): Promise<T> {
  return mutex.runExclusive(async () => {
    const release = store.lock ? await store.lock() : undefined;
    try {
      return await run();
    } finally {
      await release?.().catch(() => {});
    }
  });
}
