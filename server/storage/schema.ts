// Table types of Airlock's database. Times are epoch milliseconds; JSON is
// stored as text. The same schema serves SQLite and PostgreSQL.
import type { Generated } from 'kysely';

export interface SigningKeysTable {
  kid: string;
  /** 'access-token' signs Airlock access tokens; 'oauth-client' authenticates the confidential OAuth client. */
  purpose: string;
  alg: string;
  private_jwk: string;
  public_jwk: string;
  created_at: number;
  /** Keys are published first and used for signing only from this time on. */
  activates_at: number;
  /** After this time the key no longer signs; it still verifies until expires_at. */
  retires_at: number | null;
  expires_at: number | null;
}

export interface OAuthStatesTable {
  key: string;
  value: string;
  expires_at: number;
}

export interface OAuthSessionsTable {
  /** "<did>#<upstream id>": one Airlock session's own upstream session (a bare DID: from before). */
  sub: string;
  value: string;
  updated_at: number;
}

export interface LoginsTable {
  /** Internal reference, random; never shown to clients. */
  id: string;
  /** SHA-256 of the login id the client holds. */
  login_id_hash: string;
  verifier_challenge: string;
  identifier: string;
  status: 'pending' | 'completed' | 'failed';
  created_at: number;
  expires_at: number;
  browser_opened_at: number | null;
  completed_at: number | null;
  /** JSON of the terminal event: the session or the failure. Swept with the login. */
  result: string | null;
  /** SHA-256 of the ref in the login link /login/<ref> (not the login id). */
  link_ref_hash: string | null;
  /** The authorization server's authorize URL (PAR request_uri) the link redirects to. */
  authorize_url: string | null;
  /** When that pushed authorization request was made; renewed before the PDS forgets it. */
  authorize_url_at: number | null;
  /** Public JWK that seals the completed session in `result`; only the login id holder can open it. */
  result_key: string | null;
  /** Pushed authorization requests the login link made after InitiateLogin's (capped by AIRLOCK_MAX_PAR_RENEWALS). */
  par_renewals: Generated<number>;
  /** W3C traceparent of the InitiateLogin call, when tracing was on: the callback and completed event join that trace. */
  trace_parent: string | null;
  /** The app's client label (or its sanitised user-agent), handed to the session the login starts. */
  client_label: string | null;
  /** The confirmation code and the initiator's address, sealed under the master key (JSON; see login-store.ts). */
  confirmation: string | null;
  /** SHA-256 of the CSRF token of the confirmation page last shown for this login. */
  confirm_token_hash: string | null;
  /** When the pushed authorization request in authorize_url was first sent to a browser (null: not yet). */
  authorize_url_claimed_at: number | null;
  /** Keyed fingerprint (Sealer.fingerprint) of the initiator's network key: pending logins are capped per network. */
  initiator_network: string | null;
  /** SHA-256 of the token of the last browser the link sent on (confirmed, or on the app's network); the callback checks it. */
  browser_token_hash: string | null;
}

export interface SessionsTable {
  id: string;
  did: string;
  handle: string;
  pds_url: string;
  created_at: number;
  refreshed_at: number;
  idle_expires_at: number;
  absolute_expires_at: number;
  revoked_at: number | null;
  revoked_reason: string | null;
  /** This session's own upstream ATProto session (oauth_sessions "<did>#<upstream_id>"); NULL: the DID's shared one, from before. */
  upstream_id: string | null;
  /** What the app called itself at InitiateLogin, else its gRPC user-agent (sanitised); NULL from before 0032. */
  client_label: string | null;
}

export interface RefreshTokensTable {
  /** SHA-256 of the refresh token. */
  token_hash: string;
  session_id: string;
  created_at: number;
  expires_at: number;
  /** Set when this token was exchanged for its successor. */
  rotated_at: number | null;
  sequence: Generated<number>;
  /** With the reuse grace on: the successor token, sealed to this token (only its holder can open it). */
  successor_sealed: string | null;
}

/** A participant connected to LiveKit with an Airlock token (from LiveKit's webhooks). */
export interface LiveKitParticipantsTable {
  participant_sid: string;
  room: string;
  identity: string;
  session_id: string;
  did: string;
  channel_id: string;
  /** The permissions LiveKit reported (1/0): what a narrower catalog entry is compared with. */
  can_publish: number;
  can_subscribe: number;
  can_publish_data: number;
  joined_at: number;
}

export interface Database {
  signing_keys: SigningKeysTable;
  oauth_states: OAuthStatesTable;
  oauth_sessions: OAuthSessionsTable;
  logins: LoginsTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  livekit_participants: LiveKitParticipantsTable;
  audit_log: AuditLogTable;
}

export interface AuditLogTable {
  id: string;
  at: number;
  event: string;
  actor: string;
  did: string | null;
  session_id: string | null;
  detail: string | null;
}
