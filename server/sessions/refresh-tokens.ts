// Refresh tokens are 32 random bytes (base64url, 43 characters). Only their
// SHA-256 is stored, so a copy of the database cannot be replayed.
import { createHash, randomBytes } from 'node:crypto';

const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/;

export function newRefreshToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** Whether a string has the shape of one of our refresh tokens (checked before any lookup). */
export function looksLikeRefreshToken(token: string): boolean {
  return REFRESH_TOKEN.test(token);
}

export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}
