// The @atproto/oauth-client `requestLock`: serialises upstream token
// refreshes of one DID so a refresh token is never spent twice, and login
// completions of one callback. In one process the library's own
// `requestLocalLock` serves; across replicas, pg-request-lock.ts.
import { requestLocalLock } from '@atproto/oauth-client';

export type RequestLock = <T>(name: string, fn: () => T | PromiseLike<T>) => Promise<T>;

export function inProcessRequestLock(): RequestLock {
  return async (name, fn) => await requestLocalLock(name, async () => await fn());
}
