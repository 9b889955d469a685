// "Is this session still alive?" on the hot path of every guarded call.
// Answers come from a small bounded LRU cache: a revoked answer is final, a
// live answer is trusted for `ttlMs`; revoking through this process
// invalidates its entry at once, and other replicas learn of it through
// `invalidate` (revocation events) or at the latest when their entry ages out.
// Each answer carries the session's DID, so a token naming another account's
// session is caught without another query.
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { Database } from '../storage/schema.ts';

export interface RevocationCheckOptions {
  db: Kysely<Database>;
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}

export interface SessionStatus {
  revoked: boolean;
  /** The account the session belongs to; undefined when no such session exists. */
  did: string | undefined;
}

export class RevocationCheck {
  readonly #db: Kysely<Database>;
  readonly #ttlMs: number;
  readonly #cache: LRUCache<string, SessionStatus>;
  readonly #inFlight = new Map<string, Promise<SessionStatus>>();
  /** Bumped by every invalidation so a lookup that raced one is not cached. */
  #generation = 0;

  constructor(options: RevocationCheckOptions) {
    this.#db = options.db;
    this.#ttlMs = options.ttlMs;
    const now = options.now ?? Date.now;
    // The cache's clock is ours, so tests that move time move the cache too.
    this.#cache = new LRUCache({ max: Math.max(1, options.maxEntries), perf: { now }, ttlResolution: 0, ttlAutopurge: false });
  }

  /** True when the session is revoked, or unknown to this deployment. */
  async isRevoked(sessionId: string): Promise<boolean> {
    return (await this.statusOf(sessionId)).revoked;
  }

  /** Whether the session is revoked (or unknown), and whose it is. */
  async statusOf(sessionId: string): Promise<SessionStatus> {
    const cached = this.#cache.get(sessionId);
    if (cached) return cached;
    const pending = this.#inFlight.get(sessionId);
    if (pending) return pending;
    const generation = this.#generation;
    const lookup = this.#lookup(sessionId)
      .then((found) => {
        if (generation === this.#generation) this.#remember(sessionId, found);
        return found;
      })
      .finally(() => this.#inFlight.delete(sessionId));
    this.#inFlight.set(sessionId, lookup);
    return lookup;
  }

  /** The session was revoked (here or on another replica): forget what was cached. */
  invalidate(sessionId: string): void {
    this.#generation += 1;
    this.#cache.delete(sessionId);
    this.#inFlight.delete(sessionId);
  }

  /** Drops every cached answer (e.g. after a lost connection to the event feed). */
  clear(): void {
    this.#generation += 1;
    this.#cache.clear();
    this.#inFlight.clear();
  }

  get size(): number {
    return this.#cache.size;
  }

  async #lookup(sessionId: string): Promise<SessionStatus> {
    const row = await this.#db.selectFrom('sessions').select(['revoked_at', 'did']).where('id', '=', sessionId).executeTakeFirst();
    return Object.freeze({ revoked: !row || row.revoked_at !== null, did: row?.did });
  }

  #remember(sessionId: string, found: SessionStatus): void {
    // A revoked answer never changes: kept until evicted (lru-cache's ttl 0 is "no expiry").
    if (found.revoked) this.#cache.set(sessionId, found, { ttl: 0 });
    else if (this.#ttlMs > 0) this.#cache.set(sessionId, found, { ttl: this.#ttlMs });
  }
}
