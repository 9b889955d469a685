// The login verifier through WebCrypto, which Node 24, browsers and webviews
// all have: the same 32 random bytes and S256 challenge as login-verifier.ts,
// without node:crypto.
import type { LoginVerifier } from './login-verifier.ts';

export async function createLoginVerifier(): Promise<LoginVerifier> {
  const verifier = base64url(globalThis.crypto.getRandomValues(new Uint8Array(32)));
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url(new Uint8Array(digest)) };
}

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
