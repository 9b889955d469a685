// Conversions between the server's Session, the stored record and what an
// app may see, plus the lenient read used before a fresh write.
import type { Session } from '../proto/gen/airlock/auth/v1/auth.ts';
import type { SessionInfo } from './client-types.ts';
import type { SessionStore, StoredSession, StoredState } from './storage/session-store.ts';

export function toStoredSession(serverUrl: string, session: Session, now: number): StoredSession {
  const fallback = new Date(now);
  return {
    serverUrl,
    accessToken: session.accessToken,
    accessTokenExpiresAt: (session.accessTokenExpiresAt ?? fallback).toISOString(),
    accessTokenReceivedAt: fallback.toISOString(),
    refreshToken: session.refreshToken,
    refreshTokenExpiresAt: (session.refreshTokenExpiresAt ?? fallback).toISOString(),
    did: session.did,
    handle: session.handle,
    pdsUrl: session.pdsUrl,
    sessionId: session.sessionId,
  };
}

export function toSessionInfo(session: StoredSession): SessionInfo {
  return {
    serverUrl: session.serverUrl,
    did: session.did,
    handle: session.handle,
    pdsUrl: session.pdsUrl,
    sessionId: session.sessionId,
    accessTokenExpiresAt: new Date(session.accessTokenExpiresAt),
    refreshTokenExpiresAt: new Date(session.refreshTokenExpiresAt),
  };
}

/** Loads the state; an unreadable store counts as empty (used where a fresh write follows). */
export async function loadLenient(store: SessionStore): Promise<StoredState | undefined> {
  try {
    return await store.load();
  } catch {
    return undefined;
  }
}
