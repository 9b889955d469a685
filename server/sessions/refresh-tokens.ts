// Refresh tokens are 32 random bytes (base64url, 43 characters). Only their
// SHA-256 is stored, so a copy of the database cannot be replayed.
import { createCipheriv, createDecipheriv, hash, hkdfSync, randomBytes } from 'node:crypto';

const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/;

export function newRefreshToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): string {
  return hash('sha256', token, 'base64url');
}

/** Whether a string has the shape of one of our refresh tokens (checked before any lookup). */
export function looksLikeRefreshToken(token: string): boolean {
  return REFRESH_TOKEN.test(token);
}

export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

// A rotated token's successor, sealed (AES-256-GCM) to a key derived from the
// rotated token itself: the database holds only that token's hash, so only
// the client that presented it can open the successor again.
function successorKey(presented: string): Buffer {
  return Buffer.from(hkdfSync('sha256', presented, 'airlock', 'refresh-token-successor', 32));
}

export function sealSuccessor(presented: string, successor: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', successorKey(presented), iv);
  const body = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** The successor sealed by sealSuccessor, or undefined when it does not open with this token. */
export function openSuccessor(presented: string, sealed: string): string | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', successorKey(presented), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
