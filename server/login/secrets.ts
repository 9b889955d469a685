// Login ids, link refs and the PKCE-style login verifier: random values from
// the CSPRNG, stored only as SHA-256 hashes, compared in constant time.
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 256 bits from the CSPRNG, base64url (43 characters). */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** SHA-256 as base64url, the form stored for ids and refs and sent as the verifier challenge. */
export function sha256(value: string): string {
  return hash('sha256', value, 'base64url');
}

// RFC 7636: 43..128 characters of [A-Za-z0-9-._~].
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
// base64url of a 32-byte digest, no padding.
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

export function isVerifierChallenge(value: string): boolean {
  return CHALLENGE.test(value);
}

/** True when the verifier's S256 challenge is the stored one; constant time in the compared bytes. */
export function verifierMatches(verifier: string, storedChallenge: string): boolean {
  if (!VERIFIER.test(verifier) || !CHALLENGE.test(storedChallenge)) return false;
  const actual = Buffer.from(sha256(verifier), 'utf8');
  const expected = Buffer.from(storedChallenge, 'utf8');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
