// The values AirlockClient hands to an app (re-exported by airlock-client.ts).

export interface StartedLogin {
  loginId: string;
  /** Open this in the system browser. */
  authorizeUrl: string;
  expiresAt: Date;
  serverUrl: string;
  /**
   * Show this to the user while they sign in ("K7QM-3XHP"): when the link
   * opens on another network, the browser shows the same code and asks the
   * user to continue only if both match. Empty from servers without it.
   */
  confirmationCode: string;
}

export type LoginProgress =
  | { type: 'pending'; expiresAt: Date }
  | { type: 'browser-opened'; at: Date }
  | { type: 'heartbeat'; serverTime: Date }
  /** The stream dropped; the client re-attaches after delayMs. */
  | { type: 'reconnecting'; attempt: number; delayMs: number; reason: string };

export interface AwaitLoginOptions {
  signal?: AbortSignal;
  /** Called for every event of the stream; exceptions it throws are ignored. */
  onProgress?: (progress: LoginProgress) => void;
}

export interface LoginOptions extends AwaitLoginOptions {
  serverUrl?: string;
  /** Opens the authorize URL (e.g. the `open` package, or a Tauri opener). */
  openUrl: (url: string, login: StartedLogin) => void | Promise<void>;
}

/** The signed-in session as an app may show it. Tokens stay inside the client. */
export interface SessionInfo {
  serverUrl: string;
  did: string;
  handle: string;
  pdsUrl: string;
  sessionId: string;
  accessTokenExpiresAt: Date;
  refreshTokenExpiresAt: Date;
}

export interface WhoAmI {
  did: string;
  handle: string;
  sessionId: string;
  accessTokenExpiresAt: Date | undefined;
  serverUrl: string;
}

export interface ChannelToken {
  token: string;
  livekitUrl: string;
  room: string;
  identity: string;
  expiresAt: Date | undefined;
}

export interface LogoutResult {
  /** Whether a session was stored. */
  hadSession: boolean;
  /** Whether the server confirmed the revocation (false: unreachable or refused within the deadline). */
  revoked: boolean;
}

/**
 * A change of this client's session, for onSessionChange: signed in (a login
 * stored its session), refreshed (new tokens, same session), signed out
 * (logout, or the server no longer accepts the session: `reason` says why).
 */
export type SessionChange =
  | { type: 'signed-in'; session: SessionInfo }
  | { type: 'refreshed'; session: SessionInfo }
  | { type: 'signed-out'; reason: 'LOGOUT' | 'TOKEN_MISSING' | 'TOKEN_INVALID' | 'SESSION_REVOKED' | 'SESSION_EXPIRED' };
