// What the session capability needs from the user's ATProto session at their
// PDS. Implemented over @atproto/oauth-client-node in server/oauth.

export type UpstreamStatus = 'active' | 'revoked';

export interface UpstreamSessions {
  /**
   * Restores the DID's ATProto OAuth session (the library refreshes it when
   * due). 'revoked' when the user revoked Airlock at their PDS, the account
   * is gone or no session is stored; throws UnavailableError when the PDS or
   * authorization server cannot be reached, so a network fault never signs
   * anyone out.
   */
  check(did: string): Promise<UpstreamStatus>;
  /** Revokes the DID's ATProto session at the authorization server and forgets it. Best effort. */
  signOut(did: string): Promise<void>;
}
