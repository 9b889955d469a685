// `admin sessions list --did DID` and `admin sessions revoke --did DID |
// --session ID`: an operator's view of users' sessions, and signing them out.
// A revocation is immediate on this database; replicas that cached "alive"
// for the session notice within AIRLOCK_REVOCATION_CACHE_TTL.
import { AuditLog } from '../storage/audit-log.ts';
import type { AdminContext } from './command.ts';
import { table } from './command.ts';

const iso = (ms: number | null) => (ms === null ? '' : new Date(Number(ms)).toISOString());

export async function runSessionsCommand(ctx: AdminContext): Promise<number> {
  const { args, database, io } = ctx;
  const db = database.db;
  const audit = new AuditLog(db);
  const did = args.flags.get('did');
  const session = args.flags.get('session');
  const json = args.flags.has('json');
  const action = args.words[0];
  const now = Date.now();

  if (action === 'list') {
    if (typeof did !== 'string' || !did) {
      io.err('airlock: sessions list needs --did DID');
      return 2;
    }
    const rows = await db
      .selectFrom('sessions')
      .select([
        'id',
        'handle',
        'created_at',
        'refreshed_at',
        'idle_expires_at',
        'absolute_expires_at',
        'revoked_at',
        'revoked_reason',
        'client_label',
      ])
      .where('did', '=', did)
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .execute();
    const sessions = rows.map((r) => {
      const ends = Math.min(Number(r.idle_expires_at), Number(r.absolute_expires_at));
      const state = r.revoked_at !== null ? `revoked (${r.revoked_reason})` : ends <= now ? 'expired' : 'live';
      return {
        sessionId: r.id,
        handle: r.handle,
        createdAt: iso(r.created_at),
        lastUsedAt: iso(r.refreshed_at),
        endsAt: new Date(ends).toISOString(),
        state,
        // Checked or cleaned when stored (printable, bounded), so it is safe in a terminal.
        clientLabel: r.client_label ?? '',
      };
    });
    await audit.append({ event: 'admin-sessions-list', actor: `admin:${ctx.operator}`, did });
    if (json) io.out(JSON.stringify({ did, sessions }, null, 2));
    else if (sessions.length === 0) io.out(`no sessions for ${did}`);
    else
      for (const line of table(
        ['SESSION', 'HANDLE', 'SIGNED IN', 'LAST USED', 'ENDS', 'STATE', 'CLIENT'],
        sessions.map((s) => [s.sessionId, s.handle, s.createdAt, s.lastUsedAt, s.endsAt, s.state, s.clientLabel]),
      ))
        io.out(line);
    return 0;
  }

  if (action === 'revoke') {
    if ((typeof did === 'string') === (typeof session === 'string') || did === '' || session === '') {
      io.err('airlock: sessions revoke needs exactly one of --did DID or --session ID');
      return 2;
    }
    let query = db.selectFrom('sessions').select(['id', 'did']).where('revoked_at', 'is', null);
    query = typeof did === 'string' ? query.where('did', '=', did) : query.where('id', '=', session as string);
    const targets = await query.execute();
    if (typeof session === 'string' && targets.length === 0) {
      io.err(`airlock: no live session ${session}`);
      return 1;
    }
    const revoked: string[] = [];
    for (const target of targets) {
      const result = await db
        .updateTable('sessions')
        .set({ revoked_at: now, revoked_reason: 'admin' })
        .where('id', '=', target.id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) continue;
      revoked.push(target.id);
      await audit.append(
        { event: 'session-revoked', actor: `admin:${ctx.operator}`, did: target.did, sessionId: target.id, detail: 'admin' },
        now,
      );
    }
    if (json) io.out(JSON.stringify({ revoked }, null, 2));
    else io.out(revoked.length === 0 ? 'no live sessions to revoke' : `revoked ${revoked.length} session(s): ${revoked.join(', ')}`);
    return 0;
  }

  io.err('airlock: usage: sessions list --did DID | sessions revoke --did DID | --session ID');
  return 2;
}
