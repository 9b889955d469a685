// `admin audit [--did DID] [--limit N] [--json]`: the newest audit log
// entries. Reading it is itself recorded.
import { AuditLog } from '../storage/audit-log.ts';
import type { AdminContext } from './command.ts';
import { table } from './command.ts';

export async function runAuditCommand(ctx: AdminContext): Promise<number> {
  const { args, database, io } = ctx;
  const did = args.flags.get('did');
  const limitText = args.flags.get('limit') ?? '100';
  const limit = typeof limitText === 'string' && /^\d+$/.test(limitText) ? Number(limitText) : NaN;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) {
    io.err('airlock: --limit must be a whole number from 1 to 10000');
    return 2;
  }
  const audit = new AuditLog(database.db);
  const entries = await audit.read({ limit, ...(typeof did === 'string' ? { did } : {}) });
  await audit.append({ event: 'admin-audit-read', actor: `admin:${ctx.operator}`, did: typeof did === 'string' ? did : null });
  if (args.flags.has('json')) {
    io.out(
      JSON.stringify(
        entries.map((e) => ({ ...e, at: e.at.toISOString() })),
        null,
        2,
      ),
    );
    return 0;
  }
  const rows = entries.map((e) => [e.at.toISOString(), e.event, e.actor, e.did ?? '', e.sessionId ?? '', e.detail ?? '']);
  for (const line of table(['AT', 'EVENT', 'ACTOR', 'DID', 'SESSION', 'DETAIL'], rows)) io.out(line);
  return 0;
}
