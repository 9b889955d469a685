// Session revocations between replicas: the replica that revokes a session
// NOTIFYs its id, and every replica drops it from its revocation cache, so a
// logout on one replica rejects the session's access tokens on all of them
// within milliseconds rather than after the cache's TTL. After the LISTEN
// connection returns, whole caches are dropped: a revocation may have been
// missed meanwhile.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { PgListener } from '../storage/postgres/listener.ts';

export const REVOCATIONS_CHANNEL = 'airlock_session_revocations';

export interface RevocationCache {
  invalidate(sessionId: string): void;
  clear(): void;
}

export class PgRevocationFeed {
  readonly #db: Kysely<Database>;
  readonly #listener: PgListener;
  readonly #release: Array<() => void> = [];

  constructor(options: { db: Kysely<Database>; listener: PgListener }) {
    this.#db = options.db;
    this.#listener = options.listener;
  }

  publish = async (sessionId: string): Promise<void> => {
    await sql`select pg_notify(${REVOCATIONS_CHANNEL}, ${sessionId})`.execute(this.#db);
  };

  /** Keeps this replica's cache in step with revocations made anywhere. */
  attach(cache: RevocationCache): void {
    this.#release.push(
      this.#listener.listen(REVOCATIONS_CHANNEL, (sessionId) => cache.invalidate(sessionId)),
      this.#listener.onReconnect(() => cache.clear()),
    );
  }

  close(): void {
    for (const release of this.#release.splice(0)) release();
  }
}
