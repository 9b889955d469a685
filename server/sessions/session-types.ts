// What the login broker needs from the session capability, and what a
// signed-in app receives. The session capability implements these.

/** The user as proven by a completed ATProto OAuth login. */
export interface SessionUser {
  /** The `sub` of the OAuth session: the only identity Airlock trusts. */
  did: string;
  /** For display; may be "handle.invalid" when it does not resolve. */
  handle: string;
  pdsUrl: string;
}

/** A completed login: the user and the upstream ATProto session it created (this login's own). */
export interface SignedInUser extends SessionUser {
  /** Names the upstream session stored for this login; the Airlock session keeps it. */
  upstreamId?: string;
  /** The app's client label (or its user-agent) from InitiateLogin, shown by ListSessions. */
  clientLabel?: string;
}

export interface IssuedSession extends SessionUser {
  sessionId: string;
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
}

export interface SessionStarter {
  /** Creates an Airlock session for a freshly signed-in user and issues its first tokens. */
  start(user: SignedInUser): Promise<IssuedSession>;
}
