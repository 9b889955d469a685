// Every schema migration, in order. Append; never edit one that has shipped.
import type { Migration, MigrationProvider } from 'kysely/migration';
import { initial } from './0001_initial.ts';
import { loginLinks } from './0002_login_links.ts';
import { rateLimits } from './0003_rate_limits.ts';
import { refreshSuccessor } from './0004_refresh_successor.ts';
import { upstreamIds } from './0005_upstream_ids.ts';
import { livekitPresence } from './0006_livekit_presence.ts';
import { auditLog } from './0020_audit_log.ts';
import { parRenewals } from './0031_par_renewals.ts';
import { loginTraceAndClientLabel } from './0032_login_trace_and_client_label.ts';
// Numbered after main's 0031 and 0032, which databases may already have run (migrations only append).
import { loginConfirmation } from './0033_login_confirmation.ts';
import { pendingLoginsIndex } from './0034_pending_logins_index.ts';

const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_login_links': loginLinks,
  '0003_rate_limits': rateLimits,
  '0004_refresh_successor': refreshSuccessor,
  '0005_upstream_ids': upstreamIds,
  '0006_livekit_presence': livekitPresence,
  '0020_audit_log': auditLog,
  '0031_par_renewals': parRenewals,
  '0032_login_trace_and_client_label': loginTraceAndClientLabel,
  '0033_login_confirmation': loginConfirmation,
  '0034_pending_logins_index': pendingLoginsIndex,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
