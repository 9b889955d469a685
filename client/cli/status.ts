// `airlock status`: what this machine knows, read locally (no server call,
// so it answers offline): the server, who is signed in, when the tokens
// expire, and the login another `airlock login` is waiting for.
import type { AirlockClient, SessionInfo } from '../airlock-client.ts';
import { readLoginInProgress, type LoginInProgress } from './login-marker.ts';

export interface StatusReport {
  server: { url: string; source: 'session' | 'last-login' | 'env' | 'default' };
  sessionFile: string;
  signedIn: boolean;
  session: (SessionInfo & { accessTokenExpired: boolean; refreshTokenExpired: boolean }) | null;
  loginInProgress: LoginInProgress | null;
}

export async function statusReport(
  client: AirlockClient,
  sessionFile: string,
  fallback: { envServer: string | undefined; defaultServer: string },
  now = Date.now(),
): Promise<StatusReport> {
  const session = await client.getSession();
  const stored = await client.store.load();
  const server: StatusReport['server'] = session
    ? { url: session.serverUrl, source: 'session' }
    : stored?.loginServerUrl
      ? { url: stored.loginServerUrl, source: 'last-login' }
      : fallback.envServer
        ? { url: fallback.envServer, source: 'env' }
        : { url: fallback.defaultServer, source: 'default' };
  return {
    server,
    sessionFile,
    signedIn: session !== undefined,
    session: session
      ? {
          ...session,
          accessTokenExpired: session.accessTokenExpiresAt.getTime() <= now,
          refreshTokenExpired: session.refreshTokenExpiresAt.getTime() <= now,
        }
      : null,
    loginInProgress: (await readLoginInProgress(sessionFile, now)) ?? null,
  };
}

export function formatStatus(report: StatusReport, now = Date.now()): string {
  const lines = [`Server:        ${report.server.url}${report.server.source === 'session' ? '' : ` (${report.server.source})`}`];
  const session = report.session;
  if (session) {
    lines.push(
      `Signed in as:  @${session.handle} (${session.did})`,
      `Access token:  ${expiry(session.accessTokenExpiresAt, now)}${session.accessTokenExpired ? ' (refreshed on the next call)' : ''}`,
      `Refresh token: ${expiry(session.refreshTokenExpiresAt, now)}`,
    );
  } else {
    lines.push('Signed in as:  nobody (run `airlock login <handle>`)');
  }
  const login = report.loginInProgress;
  if (login) {
    lines.push(
      `Login:         ${login.identifier} at ${login.serverUrl}, waiting since ${login.startedAt} (${expiry(new Date(login.expiresAt), now)})`,
    );
  }
  lines.push(`Session file:  ${report.sessionFile}`);
  return lines.join('\n');
}

function expiry(at: Date, now: number): string {
  const ms = at.getTime() - now;
  return ms > 0 ? `expires ${at.toISOString()} (in ${duration(ms)})` : `expired ${at.toISOString()}`;
}

/** 45s, 14m05s, 3h02m, 29d23h: two units are enough to read at a glance. */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}
