// The confidential OAuth client's ES256 key (private_key_jwt): from the
// configured file, or generated on first run and kept in the database so
// every replica and every restart authenticates with the same key.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { JoseKey } from '@atproto/oauth-client-node';
import type { Kysely } from 'kysely';
import { invalidSetting } from '../config/load.ts';
import { withBootstrapLock } from '../storage/bootstrap-lock.ts';
import type { Sealer } from '../storage/at-rest.ts';
import type { Database } from '../storage/schema.ts';
import { privateKeyContext } from '../storage/at-rest.ts';
import { ReusableJoseKey } from './reusable-key.ts';

const PURPOSE = 'oauth-client';
const ALG = 'ES256';

export async function loadClientKey(file: string): Promise<JoseKey> {
  let jwk: Record<string, unknown>;
  try {
    jwk = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw invalidSetting(
      'oauthClientKeyFile',
      `cannot read a JSON JWK from ${file}: ${(error as NodeJS.ErrnoException).code ?? 'not JSON'}`,
    );
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string' || (jwk.alg !== undefined && jwk.alg !== ALG)) {
    throw invalidSetting('oauthClientKeyFile', 'must be an ES256 (EC P-256) private JWK');
  }
  const kid = typeof jwk.kid === 'string' && jwk.kid ? jwk.kid : `airlock-client-${randomBytes(6).toString('hex')}`;
  return ReusableJoseKey.from(await JoseKey.fromJWK({ ...jwk, alg: ALG, kid }));
}

/** The stored key, or a new one; replicas starting together agree on one (bootstrap lock, then the oldest). */
export async function storedClientKey(db: Kysely<Database>, sealer: Sealer): Promise<JoseKey> {
  const oldest = () =>
    db
      .selectFrom('signing_keys')
      .select(['kid', 'private_jwk'])
      .where('purpose', '=', PURPOSE)
      .orderBy('created_at')
      .orderBy('kid')
      .executeTakeFirst();
  let row = await oldest();
  if (!row)
    row = await withBootstrapLock(
      db,
      'signing-keys:oauth-client',
      async () => (await oldest()) ?? (await generateClientKey(db, sealer, oldest)),
    );
  return ReusableJoseKey.from(
    await JoseKey.fromJWK({
      ...(JSON.parse(sealer.open(privateKeyContext(PURPOSE, row.kid), row.private_jwk)) as Record<string, unknown>),
      alg: ALG,
      kid: row.kid,
    }),
  );
}

async function generateClientKey(
  db: Kysely<Database>,
  sealer: Sealer,
  oldest: () => Promise<{ kid: string; private_jwk: string } | undefined>,
) {
  const kid = `airlock-client-${randomBytes(6).toString('hex')}`;
  const key = await JoseKey.generate([ALG], kid);
  const now = Date.now();
  await db
    .insertInto('signing_keys')
    .values({
      kid,
      purpose: PURPOSE,
      alg: ALG,
      private_jwk: sealer.seal(privateKeyContext(PURPOSE, kid), JSON.stringify(key.privateJwk)),
      public_jwk: JSON.stringify(key.publicJwk),
      created_at: now,
      activates_at: now,
      retires_at: null,
      expires_at: null,
    })
    .execute();
  return (await oldest())!;
}
