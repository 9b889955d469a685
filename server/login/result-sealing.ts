// A completed login's tokens wait in the database until the app collects
// them. They are sealed to a key only the holder of the login id can derive
// (the database keeps the id's hash and this public key), so a copy of the
// database never yields a usable session. JWE ECDH-ES + A256GCM over X25519.
import { createPrivateKey, createPublicKey, hkdfSync, type KeyObject } from 'node:crypto';
import { CompactEncrypt, compactDecrypt, importJWK, type JWK } from 'jose';

const ALG = 'ECDH-ES';
const ENC = 'A256GCM';
// PKCS#8 prefix of a raw X25519 private key (RFC 8410).
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

function privateKeyFor(loginId: string): KeyObject {
  const seed = Buffer.from(hkdfSync('sha256', loginId, 'airlock', 'login-result-x25519', 32));
  return createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** The public JWK (JSON) to store with a new login. */
export function sealingKeyFor(loginId: string): string {
  const jwk = createPublicKey(privateKeyFor(loginId)).export({ format: 'jwk' });
  return JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x });
}

export async function seal(publicJwk: string, plaintext: string): Promise<string> {
  const key = await importJWK(JSON.parse(publicJwk) as JWK, ALG);
  return new CompactEncrypt(new TextEncoder().encode(plaintext)).setProtectedHeader({ alg: ALG, enc: ENC }).encrypt(key);
}

export async function open(loginId: string, sealed: string): Promise<string> {
  const { plaintext } = await compactDecrypt(sealed, privateKeyFor(loginId), {
    keyManagementAlgorithms: [ALG],
    contentEncryptionAlgorithms: [ENC],
  });
  return new TextDecoder().decode(plaintext);
}
