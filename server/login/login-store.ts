// Logins in the database. A row is keyed by an internal ref; clients hold a
// login id and browsers a link ref, both stored only as hashes. The terminal
// result is written here before anyone is told (the event bus only says
// "look again"), so no replica can miss a completion.
import { Mutex } from 'async-mutex';
import { withBootstrapLock } from '../storage/bootstrap-lock.ts';
import { AuditLog } from '../storage/audit-log.ts';
import { loginConfirmationContext, type Sealer } from '../storage/at-rest.ts';
import { PostgresAdapter, sql, type Kysely, type Selectable } from 'kysely';
import type { Database, LoginsTable } from '../storage/schema.ts';

/** 'cancelled': the app ended the login (CancelLogin) before the user finished. */
export type FailureReason = 'access-denied' | 'expired' | 'error' | 'cancelled';

export type StoredResult =
  /** `sealed` holds the issued session, sealed to the login id (result-sealing.ts). */
  { type: 'completed'; sealed: string; did: string; handle: string } | { type: 'failed'; reason: FailureReason; message: string };

export interface LoginRecord {
  ref: string;
  verifierChallenge: string;
  identifier: string;
  status: 'pending' | 'completed' | 'failed';
  createdAt: number;
  expiresAt: number;
  browserOpenedAt: number | null;
  result: StoredResult | null;
  authorizeUrl: string | null;
  authorizeUrlAt: number | null;
  resultKey: string | null;
  /** W3C traceparent of the InitiateLogin call, when tracing was on. */
  traceParent: string | null;
  clientLabel: string | null;
  /**
   * The code and the initiator's address for the confirmation page: opened
   * only when the record is read by its link ref (byLinkRefHash), the one
   * use; null otherwise and for logins from before it existed.
   */
  confirmation: LoginConfirmation | null;
  /** SHA-256 of the CSRF token of the confirmation page last shown. */
  confirmTokenHash: string | null;
  /** When the pushed request in authorizeUrl was first sent to a browser. */
  authorizeUrlClaimedAt: number | null;
  /** SHA-256 of the token of the last browser the link sent on to the PDS. */
  browserTokenHash: string | null;
}

/** What the confirmation page shows and compares; stored sealed (personal data, and the code is the app's). */
export interface LoginConfirmation {
  code: string;
  /** The initiator's address as the transport resolved it ('' when unknown). */
  initiatorAddress: string;
}

/** What a waiting stream may have missed: the browser opening, the result. */
export interface LoginProgress {
  ref: string;
  browserOpenedAt: number | null;
  result: StoredResult | null;
}

export interface NewLogin {
  ref: string;
  loginIdHash: string;
  linkRefHash: string;
  verifierChallenge: string;
  identifier: string;
  createdAt: number;
  expiresAt: number;
  authorizeUrl: string;
  resultKey: string;
  traceParent?: string;
  clientLabel?: string;
  confirmation: LoginConfirmation;
  /** The initiator's network key (IPv4 address, IPv6 /64); stored only as a keyed fingerprint. */
  initiatorNetwork: string;
}

/** Why insertWithinCap did not insert: the cap in total, or the initiator network's. */
export type CapReached = 'total' | 'network';

function toRecord(row: Selectable<LoginsTable>, sealer?: Sealer): LoginRecord {
  // Opened when read: only the login link and the callback look at it, while
  // every AwaitLogin stream reads its login.
  let confirmation: LoginConfirmation | null | undefined = row.confirmation !== null && sealer ? undefined : null;
  return {
    ref: row.id,
    verifierChallenge: row.verifier_challenge,
    identifier: row.identifier,
    status: row.status,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    browserOpenedAt: row.browser_opened_at === null ? null : Number(row.browser_opened_at),
    result: row.result ? (JSON.parse(row.result) as StoredResult) : null,
    authorizeUrl: row.authorize_url,
    authorizeUrlAt: row.authorize_url_at === null ? null : Number(row.authorize_url_at),
    resultKey: row.result_key,
    traceParent: row.trace_parent,
    clientLabel: row.client_label,
    get confirmation() {
      confirmation ??= JSON.parse(sealer!.open(loginConfirmationContext(row.id), row.confirmation!)) as LoginConfirmation;
      return confirmation;
    },
    confirmTokenHash: row.confirm_token_hash,
    authorizeUrlClaimedAt: row.authorize_url_claimed_at === null ? null : Number(row.authorize_url_claimed_at),
    browserTokenHash: row.browser_token_hash,
  };
}

export class LoginStore {
  private readonly db: Kysely<Database>;
  readonly #sealer: Sealer | undefined;
  /** Where finished logins and confirmation page decisions are recorded for operators. */
  readonly audit: AuditLog;

  /** `sealer`: seals each login's confirmation (code, initiator address); needed to store or read one. */
  constructor(db: Kysely<Database>, options: { sealer?: Sealer } = {}) {
    this.db = db;
    this.#sealer = options.sealer;
    this.audit = new AuditLog(db);
  }

  /**
   * Inserts a login unless `cap` logins are already pending, atomically: the
   * count and the insert run under one lock (in this process a mutex, across
   * PostgreSQL replicas an advisory lock), so concurrent callers cannot all
   * pass the count. The cap reached, or undefined once inserted.
   */
  async insertWithinCap(login: NewLogin, caps: { total: number; perNetwork: number }): Promise<CapReached | undefined> {
    return this.#capLock.runExclusive(() =>
      withBootstrapLock(this.db, 'logins:pending-cap', async () => {
        const now = Date.now();
        if ((await this.countPending(now)) >= caps.total) return 'total';
        if ((await this.countPendingFrom(login.initiatorNetwork, now)) >= caps.perNetwork) return 'network';
        await this.insert(login);
        return undefined;
      }),
    );
  }

  /** Logins still waiting for a user that were started from this network (its network key). */
  async countPendingFrom(network: string, now: number): Promise<number> {
    const row = await this.db
      .selectFrom('logins')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('initiator_network', '=', this.#networkFingerprint(network))
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  #networkFingerprint(network: string): string {
    if (!this.#sealer) throw new Error('this login store has no master key to fingerprint networks');
    return this.#sealer.fingerprint('login-network', network);
  }

  readonly #capLock = new Mutex();

  async insert(login: NewLogin): Promise<void> {
    if (!this.#sealer) throw new Error('this login store has no master key to seal login confirmations');
    const confirmation = this.#sealer.seal(loginConfirmationContext(login.ref), JSON.stringify(login.confirmation));
    await this.db
      .insertInto('logins')
      .values({
        id: login.ref,
        login_id_hash: login.loginIdHash,
        link_ref_hash: login.linkRefHash,
        verifier_challenge: login.verifierChallenge,
        identifier: login.identifier,
        status: 'pending',
        created_at: login.createdAt,
        expires_at: login.expiresAt,
        browser_opened_at: null,
        completed_at: null,
        result: null,
        authorize_url: login.authorizeUrl,
        authorize_url_at: login.createdAt,
        result_key: login.resultKey,
        trace_parent: login.traceParent ?? null,
        client_label: login.clientLabel ?? null,
        confirmation,
        confirm_token_hash: null,
        authorize_url_claimed_at: null,
        initiator_network: this.#networkFingerprint(login.initiatorNetwork),
        browser_token_hash: null,
      })
      .execute();
  }

  async byLoginIdHash(hash: string): Promise<LoginRecord | undefined> {
    const row = await this.db.selectFrom('logins').selectAll().where('login_id_hash', '=', hash).executeTakeFirst();
    return row && toRecord(row);
  }

  /** The login of a link, with its confirmation opened. */
  async byLinkRefHash(hash: string): Promise<LoginRecord | undefined> {
    const row = await this.db.selectFrom('logins').selectAll().where('link_ref_hash', '=', hash).executeTakeFirst();
    return row && this.#withConfirmation(row);
  }

  #withConfirmation(row: Selectable<LoginsTable>): LoginRecord {
    if (row.confirmation && !this.#sealer) throw new Error('this login store has no master key to open login confirmations');
    return toRecord(row, this.#sealer);
  }

  /** `withConfirmation`: open the sealed confirmation too (the callback's browser check needs it). */
  async byRef(ref: string, options: { withConfirmation?: boolean } = {}): Promise<LoginRecord | undefined> {
    const row = await this.db.selectFrom('logins').selectAll().where('id', '=', ref).executeTakeFirst();
    if (options.withConfirmation) return row && this.#withConfirmation(row);
    return row && toRecord(row);
  }

  /**
   * The logins among `refs` that made progress (browser opened or finished),
   * in one query with one parameter however many refs: the safety re-read of
   * every waiting stream of this process.
   */
  async progressOf(refs: readonly string[]): Promise<LoginProgress[]> {
    if (refs.length === 0) return [];
    const among =
      this.db.getExecutor().adapter instanceof PostgresAdapter
        ? sql<boolean>`id = any(${[...refs]}::text[])`
        : sql<boolean>`id in (select value from json_each(${JSON.stringify(refs)}))`;
    const rows = await this.db
      .selectFrom('logins')
      .select(['id', 'browser_opened_at', 'result'])
      .where(among)
      .where((eb) => eb.or([eb('result', 'is not', null), eb('browser_opened_at', 'is not', null)]))
      .execute();
    return rows.map((row) => ({
      ref: row.id,
      browserOpenedAt: row.browser_opened_at === null ? null : Number(row.browser_opened_at),
      result: row.result ? (JSON.parse(row.result) as StoredResult) : null,
    }));
  }

  /** Logins still waiting for a user. */
  async countPending(now: number): Promise<number> {
    const row = await this.db
      .selectFrom('logins')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** True for the first opening only. */
  async markBrowserOpened(ref: string, at: number): Promise<boolean> {
    const result = await this.db
      .updateTable('logins')
      .set({ browser_opened_at: at })
      .where('id', '=', ref)
      .where('browser_opened_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Claims one of the login's `cap` renewals of its pushed request; false
   * when they are spent. One conditional update, so concurrent visits (or
   * replicas) cannot claim more than the cap together.
   */
  async claimParRenewal(ref: string, cap: number): Promise<boolean> {
    const result = await this.db
      .updateTable('logins')
      .set((eb) => ({ par_renewals: eb('par_renewals', '+', 1) }))
      .where('id', '=', ref)
      .where('par_renewals', '<', cap)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Stores a renewed pushed request, handed to a browser at once. */
  async setAuthorizeUrl(ref: string, url: string, at: number): Promise<void> {
    await this.db
      .updateTable('logins')
      .set({ authorize_url: url, authorize_url_at: at, authorize_url_claimed_at: at })
      .where('id', '=', ref)
      .execute();
  }

  /**
   * Claims the stored pushed request for the browser being sent on: true
   * for the first claim only (the PDS binds a request to the first browser
   * that loads it, so a second browser needs its own).
   */
  async claimAuthorizeUrl(ref: string, at: number): Promise<boolean> {
    const result = await this.db
      .updateTable('logins')
      .set({ authorize_url_claimed_at: at })
      .where('id', '=', ref)
      .where('authorize_url_claimed_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Records the token (its hash) of the browser the link sends on now; the callback checks it. */
  async setBrowserTokenHash(ref: string, hash: string): Promise<void> {
    await this.db.updateTable('logins').set({ browser_token_hash: hash }).where('id', '=', ref).execute();
  }

  /** Spends the confirmation page's token: true for the first POST that holds it only. */
  async spendConfirmToken(ref: string, hash: string): Promise<boolean> {
    const result = await this.db
      .updateTable('logins')
      .set({ confirm_token_hash: null })
      .where('id', '=', ref)
      .where('confirm_token_hash', '=', hash)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Records the CSRF token (its hash) of the confirmation page just shown; a page shown before it no longer confirms. */
  async setConfirmTokenHash(ref: string, hash: string): Promise<void> {
    await this.db.updateTable('logins').set({ confirm_token_hash: hash }).where('id', '=', ref).execute();
  }

  /** Records the terminal result; false when the login had already finished. */
  async finish(ref: string, result: StoredResult, at: number): Promise<boolean> {
    const update = await this.db
      .updateTable('logins')
      .set({ status: result.type, result: JSON.stringify(result), completed_at: at, authorize_url: null })
      .where('id', '=', ref)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(update.numUpdatedRows) > 0;
  }

  /** Deletes logins past their lifetime, results included. */
  async sweep(now: number): Promise<number> {
    const result = await this.db.deleteFrom('logins').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
