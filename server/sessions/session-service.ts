// Airlock sessions: one per completed login, alive for weeks through
// rotating refresh tokens, each of which works once.
//
// - start(): a session row, its first refresh token (stored as SHA-256) and
//   an access token.
// - refresh(): rotates with a single conditional UPDATE (... WHERE
//   rotated_at IS NULL), so of two concurrent refreshes with one token
//   exactly one wins, on SQLite and on PostgreSQL across replicas.
//   Presenting a token that was already rotated is treated as theft: the
//   whole session is revoked. An optional grace period lets the immediately
//   previous token be presented again (a retry that lost its response, or
//   reached another replica at the same time): it gets the very successor
//   the first answer carried, so every answer's refresh token works.
// - Sliding idle lifetime and absolute lifetime; an access token never
//   outlives its session's absolute end.
// - revoke()/logout(): the revocation check used by the bearer interceptor
//   learns of it at once.
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Settings } from '../config/settings.ts';
import { InvalidArgumentError, NotFoundError, UnauthenticatedError, UnavailableError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { metrics } from '../observability/metrics.ts';
import { AuditLog } from '../storage/audit-log.ts';
import type { Database, RefreshTokensTable, SessionsTable } from '../storage/schema.ts';
import type { AccessTokens } from '../tokens/access-tokens.ts';
import { hashRefreshToken, looksLikeRefreshToken, newRefreshToken, newSessionId, openSuccessor, sealSuccessor } from './refresh-tokens.ts';
import type { RevocationCheck } from './revocation-check.ts';
import type { IssuedSession, SessionStarter, SignedInUser } from './session-types.ts';
import type { UpstreamSessions } from './upstream.ts';

export interface LiveSession {
  sessionId: string;
  handle: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  /** The app or device that signed in ('' for sessions from before labels). */
  clientLabel: string;
}

export type RevocationReason = 'logout' | 'refresh-token-reuse' | 'upstream-revoked' | 'admin';

export type SessionSettings = Pick<Settings, 'sessionIdleTtl' | 'sessionMaxTtl' | 'refreshReuseGrace' | 'sessionRetention'> &
  Partial<Pick<Settings, 'auditRetention'>>;

const SWEEP_INTERVAL_MS = 10 * 60_000;

export interface SessionServiceOptions {
  db: Kysely<Database>;
  settings: SessionSettings;
  accessTokens: AccessTokens;
  revocations: RevocationCheck;
  logger: Logger;
  /** The user's ATProto session; absent until the OAuth client is wired. */
  upstream: UpstreamSessions;
  /** Tells other replicas that a session was revoked (their caches drop it). */
  publishRevocation?: (sessionId: string) => Promise<void> | void;
  now?: () => number;
}

type Session = Selectable<SessionsTable>;
type TokenWithSession = Selectable<RefreshTokensTable> & { session: Session };

const INVALID = () => new UnauthenticatedError('TOKEN_INVALID', 'the refresh token is not valid for this server; sign in again');
const REVOKED = () => new UnauthenticatedError('SESSION_REVOKED', 'the session was revoked; sign in again');
const EXPIRED = () => new UnauthenticatedError('SESSION_EXPIRED', 'the session has expired; sign in again');

export class SessionService implements SessionStarter {
  readonly #db: Kysely<Database>;
  readonly #settings: SessionSettings;
  readonly #tokens: AccessTokens;
  readonly #revocations: RevocationCheck;
  readonly #logger: Logger;
  readonly #publish: ((sessionId: string) => Promise<void> | void) | undefined;
  readonly #now: () => number;
  readonly #audit: AuditLog;
  readonly #upstream: UpstreamSessions;
  #sweeper: NodeJS.Timeout | undefined;
  readonly #revokedListeners: Array<(sessionId: string) => Promise<void> | void> = [];

  constructor(options: SessionServiceOptions) {
    this.#db = options.db;
    this.#settings = options.settings;
    this.#tokens = options.accessTokens;
    this.#revocations = options.revocations;
    this.#logger = options.logger;
    this.#upstream = options.upstream;
    this.#publish = options.publishRevocation;
    this.#now = options.now ?? Date.now;
    this.#audit = new AuditLog(options.db);
  }

  /**
   * Called after this replica revokes a session (e.g. to remove its LiveKit
   * participants). Not awaited: a slow listener never delays the revocation.
   */
  onRevoked(listener: (sessionId: string) => Promise<void> | void): void {
    this.#revokedListeners.push(listener);
  }

  async start(user: SignedInUser): Promise<IssuedSession> {
    const now = this.#now();
    const id = newSessionId();
    const absolute = now + this.#settings.sessionMaxTtl;
    const idle = Math.min(now + this.#settings.sessionIdleTtl, absolute);
    const refresh = newRefreshToken();
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .insertInto('sessions')
        .values({
          id,
          did: user.did,
          handle: user.handle,
          pds_url: user.pdsUrl,
          created_at: now,
          refreshed_at: now,
          idle_expires_at: idle,
          absolute_expires_at: absolute,
          revoked_at: null,
          revoked_reason: null,
          upstream_id: user.upstreamId ?? null,
          client_label: user.clientLabel ?? null,
        })
        .execute();
      await trx
        .insertInto('refresh_tokens')
        .values({ token_hash: refresh.hash, session_id: id, created_at: now, expires_at: idle, rotated_at: null, sequence: 0 })
        .execute();
    });
    const access = await this.#tokens.issue({ did: user.did, handle: user.handle, sessionId: id }, absolute);
    this.#logger.info({ sessionId: id, did: user.did }, 'session started');
    return {
      did: user.did,
      handle: user.handle,
      pdsUrl: user.pdsUrl,
      sessionId: id,
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken: refresh.token,
      refreshTokenExpiresAt: new Date(idle),
    };
  }

  /** Exchanges a refresh token for new tokens; see the module comment for the rules. */
  async refresh(presented: string): Promise<IssuedSession> {
    if (!presented) throw new InvalidArgumentError('refresh_token is required');
    if (!looksLikeRefreshToken(presented)) throw INVALID();
    const hash = hashRefreshToken(presented);

    const found = await this.#find(hash);
    this.#assertUsable(found, this.#now());
    if (found.rotated_at !== null) return this.#reused(found, presented);

    await this.#checkUpstream(found.session);

    const rotated = await this.#rotate(found, presented);
    if (rotated) return rotated;
    // Lost the race to a concurrent refresh with the same token: that token
    // is now rotated (or the session ended meanwhile), so judge it again.
    const again = await this.#find(hash);
    this.#assertUsable(again, this.#now());
    if (again.rotated_at !== null) return this.#reused(again, presented);
    throw new UnavailableError('the session changed during the refresh; retry');
  }

  /** Logout with a refresh token (when the call carries no bearer). Idempotent for a session already ended. */
  async logoutWithRefreshToken(presented: string): Promise<void> {
    if (!presented) throw new InvalidArgumentError('refresh_token is required without a bearer access token');
    if (!looksLikeRefreshToken(presented)) throw INVALID();
    const found = await this.#find(hashRefreshToken(presented));
    await this.logout(found.session_id);
  }

  /** The user's live sessions (not revoked, not past either end), newest first. */
  async listLive(did: string): Promise<LiveSession[]> {
    const now = this.#now();
    const rows = await this.#db
      .selectFrom('sessions')
      .select(['id', 'handle', 'created_at', 'refreshed_at', 'idle_expires_at', 'absolute_expires_at', 'client_label'])
      .where('did', '=', did)
      .where('revoked_at', 'is', null)
      .where('idle_expires_at', '>', now)
      .where('absolute_expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .execute();
    return rows.map((row) => ({
      sessionId: row.id,
      handle: row.handle,
      createdAt: new Date(Number(row.created_at)),
      lastUsedAt: new Date(Number(row.refreshed_at)),
      expiresAt: new Date(Math.min(Number(row.idle_expires_at), Number(row.absolute_expires_at))),
      clientLabel: row.client_label ?? '',
    }));
  }

  /**
   * Ends one of this user's live sessions, as Logout does. A session of
   * another DID, an unknown or an ended one is NotFound: the answer never
   * tells whether some other user's session exists.
   */
  async revokeOwn(did: string, sessionId: string): Promise<void> {
    if (!sessionId) throw new InvalidArgumentError('session_id is required');
    if (sessionId.length > 128) throw new NotFoundError('no such session of yours');
    const live = await this.listLive(did);
    if (!live.some((session) => session.sessionId === sessionId)) throw new NotFoundError('no such session of yours');
    await this.logout(sessionId);
  }

  /** Revokes the session and signs the user's ATProto session out upstream when no other session of theirs is alive. */
  async logout(sessionId: string): Promise<void> {
    const session = await this.#db.selectFrom('sessions').selectAll().where('id', '=', sessionId).executeTakeFirst();
    if (!session) throw INVALID();
    await this.revoke(sessionId, 'logout');
    await this.#signOutUpstream(session);
  }

  /** Marks the session revoked (first reason wins) and invalidates the revocation cache everywhere. */
  async revoke(sessionId: string, reason: RevocationReason, actor = reason === 'logout' ? 'user' : 'system'): Promise<void> {
    const now = this.#now();
    const result = await this.#db
      .updateTable('sessions')
      .set({ revoked_at: now, revoked_reason: reason })
      .where('id', '=', sessionId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    this.#revocations.invalidate(sessionId);
    if (Number(result.numUpdatedRows) > 0) {
      this.#logger.info({ sessionId, reason }, 'session revoked');
      const owner = await this.#db.selectFrom('sessions').select('did').where('id', '=', sessionId).executeTakeFirst();
      await this.#audit.append({ event: 'session-revoked', actor, did: owner?.did ?? null, sessionId, detail: reason }, now);
      metrics.revocations.inc({ reason });
      try {
        await this.#publish?.(sessionId);
      } catch (error) {
        this.#logger.warn({ err: error, sessionId }, 'could not announce a session revocation to other replicas');
      }
      for (const listener of this.#revokedListeners) {
        void (async () => listener(sessionId))().catch((error: unknown) =>
          this.#logger.warn({ err: error, sessionId }, 'a revocation listener failed'),
        );
      }
    }
  }

  /**
   * Deletes sessions that ended (revoked, idle or past their absolute end)
   * more than sessionRetention ago, with their refresh tokens. Until then a
   * token of theirs still gets the precise reason (SESSION_REVOKED or
   * SESSION_EXPIRED); afterwards TOKEN_INVALID.
   */
  async sweep(now = this.#now()): Promise<number> {
    if (this.#settings.auditRetention !== undefined) await this.#audit.prune(this.#settings.auditRetention, now);
    const cutoff = now - this.#settings.sessionRetention;
    // Tokens first: PostgreSQL and SQLite would cascade, but only if the
    // SQLite connection has foreign keys on; this does not depend on it.
    const ended = (eb: { selectFrom: Kysely<Database>['selectFrom'] }) =>
      eb
        .selectFrom('sessions')
        .select('id')
        .where((w) => w.or([w('revoked_at', '<', cutoff), w('idle_expires_at', '<', cutoff), w('absolute_expires_at', '<', cutoff)]));
    return this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('refresh_tokens').where('session_id', 'in', ended(trx)).execute();
      // And their own upstream sessions, which nothing else would use again.
      await trx
        .deleteFrom('oauth_sessions')
        .where(
          'sub',
          'in',
          ended(trx).clearSelect().select(sql<string>`did || '#' || upstream_id`.as('key')).where('upstream_id', 'is not', null),
        )
        .execute();
      const result = await trx
        .deleteFrom('sessions')
        .where((w) => w.or([w('revoked_at', '<', cutoff), w('idle_expires_at', '<', cutoff), w('absolute_expires_at', '<', cutoff)]))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  startSweeping(intervalMs = SWEEP_INTERVAL_MS): void {
    if (this.#sweeper) return;
    this.#sweeper = setInterval(() => {
      this.sweep().then(
        (removed) => removed > 0 && this.#logger.info({ removed }, 'ended sessions deleted'),
        (error: unknown) => this.#logger.warn({ err: error }, 'session sweep failed'),
      );
    }, intervalMs);
    this.#sweeper.unref();
  }

  stopSweeping(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  async #find(hash: string): Promise<TokenWithSession> {
    const row = await this.#db
      .selectFrom('refresh_tokens as t')
      .innerJoin('sessions as s', 's.id', 't.session_id')
      .select([
        't.token_hash',
        't.session_id',
        't.created_at',
        't.expires_at',
        't.rotated_at',
        't.sequence',
        't.successor_sealed',
        's.id',
        's.did',
        's.handle',
        's.pds_url',
        's.created_at as session_created_at',
        's.refreshed_at',
        's.idle_expires_at',
        's.absolute_expires_at',
        's.revoked_at',
        's.revoked_reason',
        's.upstream_id',
        's.client_label',
      ])
      .where('t.token_hash', '=', hash)
      .executeTakeFirst();
    if (!row) throw INVALID();
    return {
      token_hash: row.token_hash,
      session_id: row.session_id,
      created_at: row.created_at,
      expires_at: row.expires_at,
      rotated_at: row.rotated_at,
      sequence: row.sequence,
      successor_sealed: row.successor_sealed,
      session: {
        id: row.id,
        did: row.did,
        handle: row.handle,
        pds_url: row.pds_url,
        created_at: row.session_created_at,
        refreshed_at: row.refreshed_at,
        idle_expires_at: row.idle_expires_at,
        absolute_expires_at: row.absolute_expires_at,
        revoked_at: row.revoked_at,
        revoked_reason: row.revoked_reason,
        upstream_id: row.upstream_id,
        client_label: row.client_label,
      },
    };
  }

  #assertUsable(found: TokenWithSession, now: number): void {
    const { session } = found;
    if (session.revoked_at !== null) throw REVOKED();
    if (now >= session.absolute_expires_at || now >= session.idle_expires_at) throw EXPIRED();
    // A rotated token's own expiry does not matter: its reuse is judged as reuse.
    if (found.rotated_at === null && now >= found.expires_at) throw EXPIRED();
  }

  async #checkUpstream(session: Session): Promise<void> {
    const status = await this.#upstream.check({ did: session.did, upstreamId: session.upstream_id });
    if (status === 'revoked') {
      await this.revoke(session.id, 'upstream-revoked');
      throw REVOKED();
    }
  }

  // The winner of the conditional UPDATE rotates; everyone else gets undefined.
  async #rotate(found: TokenWithSession, presented: string): Promise<IssuedSession | undefined> {
    const now = this.#now();
    const { session } = found;
    const idle = Math.min(now + this.#settings.sessionIdleTtl, session.absolute_expires_at);
    const next = newRefreshToken();
    // Kept only when a retry may come back for it (the grace is on).
    const successor = this.#settings.refreshReuseGrace > 0 ? sealSuccessor(presented, next.token) : null;
    const won = await this.#db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('refresh_tokens')
        .set({ rotated_at: now, successor_sealed: successor })
        .where('token_hash', '=', found.token_hash)
        .where('rotated_at', 'is', null)
        .where('expires_at', '>', now)
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom('sessions')
              .select('id')
              .where('id', '=', session.id)
              .where('revoked_at', 'is', null)
              .where('idle_expires_at', '>', now)
              .where('absolute_expires_at', '>', now),
          ),
        )
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) return false;
      await trx
        .insertInto('refresh_tokens')
        .values({
          token_hash: next.hash,
          session_id: session.id,
          created_at: now,
          expires_at: idle,
          rotated_at: null,
          sequence: found.sequence + 1,
        })
        .execute();
      await trx.updateTable('sessions').set({ refreshed_at: now, idle_expires_at: idle }).where('id', '=', session.id).execute();
      return true;
    });
    if (!won) return undefined;
    metrics.refreshRotations.inc();
    return this.#issue(session, next.token, idle);
  }

  // A rotated token came back. Within the grace period, and only if it is the
  // immediately previous token (its successor never used), the answer is the
  // successor the first answer carried, with a fresh access token: a retry
  // and a concurrent duplicate on another replica end up with the same live
  // refresh token. Anything else is theft.
  async #reused(found: TokenWithSession, presented: string): Promise<IssuedSession> {
    const now = this.#now();
    const grace = this.#settings.refreshReuseGrace;
    if (grace > 0 && found.rotated_at !== null && now - found.rotated_at <= grace) {
      const again = await this.#successorWithinGrace(found, presented, now);
      if (again) return again;
    }
    this.#logger.warn({ sessionId: found.session_id }, 'a rotated refresh token was presented again; revoking the session');
    metrics.refreshReuse.inc();
    await this.#audit.append({
      event: 'refresh-token-reuse',
      actor: 'system',
      did: found.session.did,
      sessionId: found.session_id,
      detail: `token ${found.sequence} presented again`,
    });
    await this.revoke(found.session_id, 'refresh-token-reuse');
    await this.#signOutUpstream(found.session);
    throw REVOKED();
  }

  async #successorWithinGrace(found: TokenWithSession, presented: string, now: number): Promise<IssuedSession | undefined> {
    const successor = found.successor_sealed === null ? undefined : openSuccessor(presented, found.successor_sealed);
    if (successor === undefined) return undefined;
    const row = await this.#db
      .selectFrom('refresh_tokens')
      .select(['expires_at'])
      .where('token_hash', '=', hashRefreshToken(successor))
      .where('session_id', '=', found.session_id)
      .where('rotated_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    if (!row) return undefined;
    this.#logger.info({ sessionId: found.session_id }, 'previous refresh token accepted within the grace period');
    return this.#issue(found.session, successor, row.expires_at);
  }

  async #issue(session: Session, refreshToken: string, idleExpiresAt: number): Promise<IssuedSession> {
    const access = await this.#tokens.issue(
      { did: session.did, handle: session.handle, sessionId: session.id },
      session.absolute_expires_at,
    );
    return {
      did: session.did,
      handle: session.handle,
      pdsUrl: session.pds_url,
      sessionId: session.id,
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken,
      refreshTokenExpiresAt: new Date(idleExpiresAt),
    };
  }

  // Each session signs out its own upstream session; the user's other
  // devices keep theirs. A session from before per-session upstream ids
  // shares the DID's one: that is signed out only when the last such ends.
  async #signOutUpstream(session: Session): Promise<void> {
    if (session.upstream_id === null) {
      const now = this.#now();
      const alive = await this.#db
        .selectFrom('sessions')
        .select('id')
        .where('did', '=', session.did)
        .where('upstream_id', 'is', null)
        .where('revoked_at', 'is', null)
        .where('idle_expires_at', '>', now)
        .where('absolute_expires_at', '>', now)
        .limit(1)
        .executeTakeFirst();
      if (alive) return;
    }
    try {
      await this.#upstream.signOut({ did: session.did, upstreamId: session.upstream_id });
    } catch (error) {
      this.#logger.warn({ err: error, did: session.did }, 'could not sign the ATProto session out upstream');
    }
  }
}
