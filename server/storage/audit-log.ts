// The audit log: an append-only table of security events (logins completed
// or failed, refresh token reuse, revocations and who made them, admin
// actions). Only this file writes it, and only with INSERT (and the
// retention DELETE). It holds DIDs and session ids, so it is for operators:
// none of it goes to logs or metrics.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

export type AuditEvent =
  | 'login-completed'
  | 'login-failed'
  | 'refresh-token-reuse'
  | 'session-revoked'
  | 'admin-sessions-list'
  | 'admin-audit-read'
  // The login link's confirmation page (AIRLOCK_LOGIN_CONFIRMATION): shown, passed over on the app's own network, and what the user did.
  | 'login-confirmation-shown'
  | 'login-confirmation-skipped'
  | 'login-confirmation-confirmed'
  | 'login-confirmation-cancelled'
  | 'login-confirmation-refused';

export interface AuditEntry {
  event: AuditEvent;
  /** Who did it: "user", "system", or "admin:<operator>". */
  actor: string;
  did?: string | null;
  sessionId?: string | null;
  /** A short reason or description, never a secret. */
  detail?: string | null;
}

export interface AuditRecord extends AuditEntry {
  id: string;
  at: Date;
}

export class AuditLog {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async append(entry: AuditEntry, at = Date.now()): Promise<void> {
    await this.#db
      .insertInto('audit_log')
      .values({
        id: randomUUID(),
        at,
        event: entry.event,
        actor: entry.actor,
        did: entry.did ?? null,
        session_id: entry.sessionId ?? null,
        detail: entry.detail ?? null,
      })
      .execute();
  }

  /** Newest first. */
  async read(filter: { did?: string; limit: number }): Promise<AuditRecord[]> {
    let query = this.#db.selectFrom('audit_log').selectAll().orderBy('at', 'desc').orderBy('id').limit(filter.limit);
    if (filter.did) query = query.where('did', '=', filter.did);
    const rows = await query.execute();
    return rows.map((r) => ({
      id: r.id,
      at: new Date(Number(r.at)),
      event: r.event as AuditEvent,
      actor: r.actor,
      did: r.did,
      sessionId: r.session_id,
      detail: r.detail,
    }));
  }

  /** Deletes entries older than the retention; returns how many. */
  async prune(retentionMs: number, now = Date.now()): Promise<number> {
    const result = await this.#db
      .deleteFrom('audit_log')
      .where('at', '<', now - retentionMs)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
