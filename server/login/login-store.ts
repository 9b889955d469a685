// Logins in the database. A row is keyed by an internal ref; clients hold a
// login id and browsers a link ref, both stored only as hashes. The terminal
// result is written here before anyone is told (the event bus only says
// "look again"), so no replica can miss a completion.
import { Mutex } from 'async-mutex';
import { withBootstrapLock } from '../storage/bootstrap-lock.ts';
import { AuditLog } from '../storage/audit-log.ts';
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
}

function toRecord(row: Selectable<LoginsTable>): LoginRecord {
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
  };
}

export class LoginStore {
  private readonly db: Kysely<Database>;
  /** Where finished logins are recorded for operators. */
  readonly audit: AuditLog;

  constructor(db: Kysely<Database>) {
    this.db = db;
    this.audit = new AuditLog(db);
  }

  /**
   * Inserts a login unless `cap` logins are already pending, atomically: the
   * count and the insert run under one lock (in this process a mutex, across
   * PostgreSQL replicas an advisory lock), so concurrent callers cannot all
   * pass the count. False when the cap is reached.
   */
  async insertWithinCap(login: NewLogin, cap: number): Promise<boolean> {
    return this.#capLock.runExclusive(() =>
      withBootstrapLock(this.db, 'logins:pending-cap', async () => {
        if ((await this.countPending(Date.now())) >= cap) return false;
        await this.insert(login);
        return true;
      }),
    );
  }

  readonly #capLock = new Mutex();

  async insert(login: NewLogin): Promise<void> {
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
      })
      .execute();
  }

  async byLoginIdHash(hash: string): Promise<LoginRecord | undefined> {
    const row = await this.db.selectFrom('logins').selectAll().where('login_id_hash', '=', hash).executeTakeFirst();
    return row && toRecord(row);
  }

  async byLinkRefHash(hash: string): Promise<LoginRecord | undefined> {
    const row = await this.db.selectFrom('logins').selectAll().where('link_ref_hash', '=', hash).executeTakeFirst();
    return row && toRecord(row);
  }

  async byRef(ref: string): Promise<LoginRecord | undefined> {
    const row = await this.db.selectFrom('logins').selectAll().where('id', '=', ref).executeTakeFirst();
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

  async setAuthorizeUrl(ref: string, url: string, at: number): Promise<void> {
    await this.db.updateTable('logins').set({ authorize_url: url, authorize_url_at: at }).where('id', '=', ref).execute();
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
