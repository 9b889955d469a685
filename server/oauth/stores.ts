// The OAuth library's state and session stores on Airlock's database, so a
// login pending across a restart still completes and every replica sees the
// same ATProto sessions. Values are the library's own JSON (DPoP keys as JWK),
// sealed under the master key (storage/at-rest.ts): they hold PDS tokens,
// DPoP private keys and PKCE verifiers.
import type { NodeSavedSession, NodeSavedSessionStore, NodeSavedState, NodeSavedStateStore } from '@atproto/oauth-client-node';
import type { Kysely } from 'kysely';
import type { Sealer } from '../storage/at-rest.ts';
import type { Database } from '../storage/schema.ts';

/** A stored authorization request as a callback finds it: its login ref, and whether a callback already consumed it. */
export interface StoredRequest {
  loginRef: string;
  consumed: boolean;
}

export interface OAuthStateStore extends NodeSavedStateStore {
  /** The login ref (appState) of an authorization request, without consuming it; also after it was consumed. */
  requestOf(key: string): Promise<StoredRequest | undefined>;
  /** Forgets authorization requests that expired. */
  sweep(now?: number): Promise<number>;
}

// A consumed request stays as a tombstone until it expires: the library
// sees it as unknown (no replay), but a reload of its callback still finds
// the login, and so can say how it ended instead of "unknown".
interface Tombstone {
  consumedAt: number;
  appState: string | null;
}
const isTombstone = (value: NodeSavedState | Tombstone): value is Tombstone => 'consumedAt' in value;

export function stateStore(db: Kysely<Database>, ttlMs: number, sealer: Sealer): OAuthStateStore {
  const context = (key: string) => `oauth_states:${key}`;
  const read = async (key: string): Promise<NodeSavedState | Tombstone | undefined> => {
    const row = await db.selectFrom('oauth_states').select(['value', 'expires_at']).where('key', '=', key).executeTakeFirst();
    if (!row || row.expires_at <= Date.now()) return undefined;
    return JSON.parse(sealer.open(context(key), row.value)) as NodeSavedState | Tombstone;
  };
  return {
    async get(key) {
      const value = await read(key);
      return value && !isTombstone(value) ? value : undefined;
    },
    async set(key, value) {
      const row = { key, value: sealer.seal(context(key), JSON.stringify(value)), expires_at: Date.now() + ttlMs };
      await db
        .insertInto('oauth_states')
        .values(row)
        .onConflict((oc) => oc.column('key').doUpdateSet({ value: row.value, expires_at: row.expires_at }))
        .execute();
    },
    async del(key) {
      const value = await read(key);
      if (!value || isTombstone(value)) return;
      const tombstone: Tombstone = { consumedAt: Date.now(), appState: value.appState ?? null };
      await db
        .updateTable('oauth_states')
        .set({ value: sealer.seal(context(key), JSON.stringify(tombstone)) })
        .where('key', '=', key)
        .execute();
    },
    async requestOf(key) {
      const value = await read(key);
      if (!value?.appState) return undefined;
      return { loginRef: value.appState, consumed: isTombstone(value) };
    },
    async sweep(now = Date.now()) {
      const result = await db.deleteFrom('oauth_states').where('expires_at', '<=', now).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

/**
 * The library's session store narrowed to one upstream session. The library
 * keys sessions by DID (and revokes the DID's previous one in every
 * callback), so a store shared by all of a user's Airlock sessions would let
 * two devices overwrite and sign out each other's. Here the row is
 * "<did>#<upstreamId>": each Airlock session sees only its own. A null id is
 * a session from before, stored under the bare DID.
 */
export function sessionStore(db: Kysely<Database>, upstreamId: string | null, sealer: Sealer): NodeSavedSessionStore {
  const keyOf = (sub: string) => (upstreamId === null ? sub : `${sub}#${upstreamId}`);
  return {
    async get(sub) {
      const row = await db.selectFrom('oauth_sessions').select('value').where('sub', '=', keyOf(sub)).executeTakeFirst();
      return row ? (JSON.parse(sealer.open(`oauth_sessions:${keyOf(sub)}`, row.value)) as NodeSavedSession) : undefined;
    },
    async set(sub, value) {
      const row = { sub: keyOf(sub), value: sealer.seal(`oauth_sessions:${keyOf(sub)}`, JSON.stringify(value)), updated_at: Date.now() };
      await db
        .insertInto('oauth_sessions')
        .values(row)
        .onConflict((oc) => oc.column('sub').doUpdateSet({ value: row.value, updated_at: row.updated_at }))
        .execute();
    },
    async del(sub) {
      await db.deleteFrom('oauth_sessions').where('sub', '=', keyOf(sub)).execute();
    },
  };
}

/** For the client that only starts authorizations: it must never hold a session. */
export const noSessions: NodeSavedSessionStore = {
  get: async () => undefined,
  set: async () => {
    throw new Error('upstream sessions are stored per Airlock session (AirlockOAuthClient.forSession)');
  },
  del: async () => {},
};
