// The secret a client keeps for one login, PKCE-style: InitiateLogin gets
// only base64url(SHA-256(verifier)); AwaitLogin proves possession.
import { createHash, randomBytes } from 'node:crypto';
// The client core uses web-login-verifier.ts (WebCrypto, for the browser build too); this is its Node reference.

export interface LoginVerifier {
  verifier: string;
  challenge: string;
}

/** 32 random bytes as base64url: 43 characters, inside the contract's 43..128. */
export function createLoginVerifier(): LoginVerifier {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: challengeOf(verifier) };
}

export function challengeOf(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}
