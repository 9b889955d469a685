// DPoP and client-assertion keys import their private half once, not for
// every JWT they sign, and still sign JWTs that verify.
import { JoseKey } from '@atproto/oauth-client-node';
import { importJWK, jwtVerify } from 'jose';
import { expect, test } from 'vitest';
import { ReusableJoseKey } from '../../server/oauth/reusable-key.ts';

class Probe extends ReusableJoseKey {
  imported(alg: string) {
    return this.getKeyObj(alg);
  }
}

test('a ReusableJoseKey reuses its imported key and signs verifiable JWTs', async () => {
  const plain = await JoseKey.generate(['ES256'], 'k1');
  const key = new Probe(ReusableJoseKey.from(plain).jwk);
  expect(await key.imported('ES256')).toBe(await key.imported('ES256'));
  await expect(key.imported('RS256')).rejects.toThrow(/cannot be used with algorithm/);

  const { kty, crv, x, y } = plain.publicJwk as unknown as Record<string, string>;
  const publicKey = await importJWK({ kty, crv, x, y }, 'ES256');
  for (const jti of ['a', 'b']) {
    const jwt = await key.createJwt({ alg: 'ES256', typ: 'dpop+jwt' }, { jti, iat: Math.floor(Date.now() / 1000) });
    const { payload, protectedHeader } = await jwtVerify(jwt, publicKey);
    expect(payload.jti).toBe(jti);
    expect(protectedHeader.kid).toBe('k1');
  }
});
