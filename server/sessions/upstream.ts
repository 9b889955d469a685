// What the session capability needs from the user's ATProto session at their
// PDS. Implemented over @atproto/oauth-client-node in server/oauth.

export type UpstreamStatus = 'active' | 'revoked';

/** One Airlock session's upstream session: the user's DID and its own upstream id (null: the DID's shared one, from before). */
export interface UpstreamRef {
  did: string;
  upstreamId: string | null;
}

export interface UpstreamSessions {
  /**
   * Restores the session's ATProto OAuth session (the library refreshes it when
   * due). 'revoked' when the user revoked Airlock at their PDS, the account
   * is gone or no session is stored; throws UnavailableError when the PDS or
   * authorization server cannot be reached, so a network fault never signs
   * anyone out.
   */
  check(ref: UpstreamRef): Promise<UpstreamStatus>;
  /** Revokes this upstream session at the authorization server and forgets it; the user's other sessions stay. Best effort. */
  signOut(ref: UpstreamRef): Promise<void>;
}
