// Access tokens whose signature and claims were verified, so a client that
// presents the same token call after call pays for one signature check, not
// one per call. Only what passed full verification is stored; an entry never
// outlives the token's exp (the clock tolerance is left to full
// verification), and the entries of a signing key go when the key retires.
// Keys are SHA-256 hashes: the cache holds no bearer token, and a lookup's
// timing tells nothing about the tokens in it.
import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { VerifiedAccessToken } from './access-tokens.ts';

interface Entry {
  verified: Readonly<VerifiedAccessToken>;
  kid: string;
  /** exp in epoch ms. */
  until: number;
}

export class VerifiedTokenCache {
  readonly #entries: LRUCache<string, Entry> | undefined;
  /** Token hashes per signing key, to forget a retiring key's tokens at once. */
  readonly #byKid = new Map<string, Set<string>>();

  /** maxEntries 0 turns the cache off. */
  constructor(maxEntries: number) {
    if (maxEntries <= 0) return;
    this.#entries = new LRUCache<string, Entry>({
      max: maxEntries,
      dispose: (entry, hash) => {
        const hashes = this.#byKid.get(entry.kid);
        hashes?.delete(hash);
        if (hashes?.size === 0) this.#byKid.delete(entry.kid);
      },
    });
  }

  get size(): number {
    return this.#entries?.size ?? 0;
  }

  /** The cached verification of this token, if any and not past its exp. */
  get(token: string, now: number): { verified: Readonly<VerifiedAccessToken>; kid: string; hash: string } | undefined {
    if (!this.#entries) return undefined;
    const hash = hashOf(token);
    const entry = this.#entries.get(hash);
    if (!entry) return undefined;
    if (entry.until <= now) {
      this.#entries.delete(hash);
      return undefined;
    }
    return { verified: entry.verified, kid: entry.kid, hash };
  }

  /** Call only with a token that just passed full verification. */
  remember(token: string, kid: string, verified: VerifiedAccessToken, now: number): Readonly<VerifiedAccessToken> {
    const frozen = Object.freeze({ ...verified });
    const until = verified.expiresAt.getTime();
    if (!this.#entries || until <= now) return frozen;
    const hash = hashOf(token);
    this.#entries.set(hash, { verified: frozen, kid, until });
    let hashes = this.#byKid.get(kid);
    if (!hashes) {
      hashes = new Set();
      this.#byKid.set(kid, hashes);
    }
    hashes.add(hash);
    return frozen;
  }

  /** Whether this token is cached, without touching its recency. */
  has(token: string): boolean {
    return this.#entries?.has(hashOf(token)) ?? false;
  }

  forget(token: string): void {
    this.#entries?.delete(hashOf(token));
  }

  delete(hash: string): void {
    this.#entries?.delete(hash);
  }

  /** Drops every token signed by this key. */
  forgetKey(kid: string): void {
    const hashes = this.#byKid.get(kid);
    if (!hashes) return;
    for (const hash of [...hashes]) this.#entries?.delete(hash);
    this.#byKid.delete(kid);
  }

  clear(): void {
    this.#entries?.clear();
    this.#byKid.clear();
  }
}

function hashOf(token: string): string {
  // The one-shot hash: no Hash object per call on the hot path.
  return hash('sha256', token, 'base64url');
}
