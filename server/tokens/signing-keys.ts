// The keys that sign Airlock access tokens. They live in the signing_keys
// table (purpose 'access-token') so every replica and every restart signs
// and verifies with the same set; the first start generates one, or the
// operator supplies one in AIRLOCK_SIGNING_KEY_FILE.
//
// Rotation publishes a key before it signs: a new key is inserted with an
// activation time in the future, appears in the JWKS at once, and the old
// key keeps verifying until every token it signed has expired.
//
// In a rolling restart replicas may sign with different keys for a while
// (old and new key files, or a stale view of a rotation). Two rules keep
// that safe: the JWKS is read from the database, so a key any replica signs
// with is published by all; and a replica that signs with a key someone
// retired extends that key's expiry first (a lease), so a key expires only
// one token lifetime after the last replica stopped signing with it.
import { randomBytes } from 'node:crypto';
import { Mutex } from 'async-mutex';
import { readFileSync } from 'node:fs';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { Kysely } from 'kysely';
import { ConfigError, invalidSetting } from '../config/load.ts';
import type { Settings } from '../config/settings.ts';
import { withBootstrapLock } from '../storage/bootstrap-lock.ts';
import { privateKeyContext, type Sealer } from '../storage/at-rest.ts';
import type { Database, SigningKeysTable } from '../storage/schema.ts';

export const ACCESS_TOKEN_PURPOSE = 'access-token';
const SIGNING_KEYS_LOCK = 'signing-keys:access-token';

/** The only algorithms Airlock signs or accepts. Generated keys are EdDSA (Ed25519). */
export const SIGNING_ALGORITHMS = ['EdDSA', 'ES256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];
const GENERATED_ALGORITHM: SigningAlgorithm = 'EdDSA';

// How often the set is re-read from the database so replicas see each other's
// rotations, and how often an unknown kid may force a re-read (a flood of
// made-up kids must not become a flood of queries).
const RELOAD_INTERVAL_MS = 60_000;
const UNKNOWN_KID_RELOAD_INTERVAL_MS = 1_000;
// Extra life a signing replica gives a retired key beyond its token lifetime,
// so the lease is written about once a minute, not for every token.
const LEASE_MARGIN_MS = 60_000;
// Scheduled rotations in this process run one at a time (the bootstrap lock
// serializes replicas on PostgreSQL; on SQLite there is one process).
const scheduledRotation = new Mutex();

export interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  publicKey: CryptoKey;
  /** Absent for a key this process may only verify with. */
  privateKey: CryptoKey | undefined;
  /** The public JWK as published (kid, alg, use). */
  publicJwk: JWK;
  activatesAt: number;
  retiresAt: number | null;
  expiresAt: number | null;
}

export type SigningKeySettings = Pick<Settings, 'signingKeyFile' | 'accessTokenTtl' | 'clockTolerance'> &
  Partial<Pick<Settings, 'signingKeyRotation'>>;

export interface SigningKeyRingOptions {
  db: Kysely<Database>;
  settings: SigningKeySettings;
  /** Seals the private JWKs stored in the database (the master key). */
  sealer: Sealer;
  now?: () => number;
}

export class SigningKeyRing {
  readonly #db: Kysely<Database>;
  readonly #settings: SigningKeySettings;
  readonly #now: () => number;
  readonly #sealer: Sealer;
  #keys: SigningKey[] = [];
  #loadedAt = 0;
  #lastUnknownKidReload = 0;
  /** The key from AIRLOCK_SIGNING_KEY_FILE, which always signs. */
  #fileKey: SigningKey | undefined;
  readonly #retireListeners: Array<(kid: string) => void> = [];

  private constructor(options: SigningKeyRingOptions) {
    this.#db = options.db;
    this.#settings = options.settings;
    this.#now = options.now ?? Date.now;
    this.#sealer = options.sealer;
  }

  /** Loads the key set, importing the key file or generating a first key when needed. */
  static async open(options: SigningKeyRingOptions): Promise<SigningKeyRing> {
    const ring = new SigningKeyRing(options);
    // Replicas starting together on an empty database must not each generate a first key.
    await withBootstrapLock(options.db, SIGNING_KEYS_LOCK, async () => {
      if (options.settings.signingKeyFile) await ring.#installKeyFile(options.settings.signingKeyFile);
      await ring.reload();
      if (!ring.#currentSigner()) {
        await ring.#insertGenerated(ring.#now());
        await ring.reload();
      }
    });
    return ring;
  }

  /** Re-reads the set from the database. */
  async reload(): Promise<void> {
    const now = this.#now();
    const rows = await this.#db
      .selectFrom('signing_keys')
      .selectAll()
      .where('purpose', '=', ACCESS_TOKEN_PURPOSE)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .execute();
    const keys: SigningKey[] = [];
    for (const row of rows)
      keys.push(this.#fileKey?.kid === row.kid ? { ...this.#fileKey, ...times(row) } : await fromRow(row, this.#sealer));
    const before = this.#keys;
    this.#keys = keys;
    this.#loadedAt = now;
    for (const old of before) {
      const current = keys.find((k) => k.kid === old.kid);
      if (!current || (old.retiresAt === null && current.retiresAt !== null)) this.#announceRetired(old.kid);
    }
  }

  /**
   * Called with a kid when this process learns that the key retires (a
   * rotation set its retirement) or left the set (expired or removed), so
   * what was cached for it can go.
   */
  onRetire(listener: (kid: string) => void): void {
    this.#retireListeners.push(listener);
  }

  #announceRetired(kid: string): void {
    for (const listener of this.#retireListeners) listener(kid);
  }

  /** The key that signs now. Reloads when the set is stale or the signer retired; generates one if none is left. */
  async signer(): Promise<SigningKey & { privateKey: CryptoKey }> {
    if (this.#now() - this.#loadedAt > RELOAD_INTERVAL_MS || !this.#currentSigner()) await this.reload();
    let key = this.#currentSigner();
    if (!key) {
      key = await withBootstrapLock(this.#db, SIGNING_KEYS_LOCK, async () => {
        // Another replica may have generated one while we waited.
        await this.reload();
        if (!this.#currentSigner()) {
          await this.#insertGenerated(this.#now());
          await this.reload();
        }
        return this.#currentSigner();
      });
    }
    if (!key?.privateKey) throw new Error('no access-token signing key with a private key is available');
    await this.#rotateWhenDue(key);
    await this.#extendLease(key);
    return key as SigningKey & { privateKey: CryptoKey };
  }

  // The scheduled rotation (AIRLOCK_SIGNING_KEY_ROTATION): once the signing
  // key is that old and no successor is published yet, one replica (the
  // bootstrap lock, then a re-check) publishes the next key, which signs one
  // reload interval plus the clock tolerance later, so every replica and
  // verifier has seen it first. The current key keeps signing until then.
  async #rotateWhenDue(key: SigningKey): Promise<void> {
    const every = this.#settings.signingKeyRotation ?? 0;
    if (every <= 0 || this.#fileKey || this.#now() - key.activatesAt < every || this.#hasSuccessor()) return;
    await scheduledRotation.runExclusive(() =>
      withBootstrapLock(this.#db, SIGNING_KEYS_LOCK, async () => {
        await this.reload();
        const current = this.#currentSigner();
        if (!current || this.#now() - current.activatesAt < every || this.#hasSuccessor()) return;
        await this.rotate(RELOAD_INTERVAL_MS + this.#settings.clockTolerance);
      }),
    );
  }

  #hasSuccessor(): boolean {
    const now = this.#now();
    return this.#keys.some((k) => k.activatesAt > now);
  }

  // Someone retired this key (a rotation, another replica's new key file)
  // while we still sign with it: keep it verifiable everywhere for as long
  // as the token we are about to sign lives. The condition makes this a
  // no-op for a key nobody retired, and writes at most once a margin.
  async #extendLease(key: SigningKey): Promise<void> {
    const now = this.#now();
    const lifetime = this.#settings.accessTokenTtl + this.#settings.clockTolerance;
    await this.#db
      .updateTable('signing_keys')
      .set({ expires_at: now + lifetime + LEASE_MARGIN_MS })
      .where('purpose', '=', ACCESS_TOKEN_PURPOSE)
      .where('kid', '=', key.kid)
      .where('expires_at', 'is not', null)
      .where('expires_at', '<', now + lifetime)
      .execute();
  }

  /** A key of our own set by kid, for verification; undefined for anything else. */
  async verifier(kid: string): Promise<SigningKey | undefined> {
    const now = this.#now();
    let key = this.#keys.find((k) => k.kid === kid);
    const stale = now - this.#loadedAt > RELOAD_INTERVAL_MS;
    // Unknown, or expired as far as we know: another replica may have just
    // published it or extended its lease (see signer()).
    const missing = !key || (key.expiresAt !== null && key.expiresAt <= now);
    if ((missing && now - this.#lastUnknownKidReload > UNKNOWN_KID_RELOAD_INTERVAL_MS) || stale) {
      if (missing) this.#lastUnknownKidReload = now;
      await this.reload();
      key = this.#keys.find((k) => k.kid === kid);
    }
    if (!key || (key.expiresAt !== null && key.expiresAt <= now)) return undefined;
    return key;
  }

  /**
   * Every published key: pending, active and retiring ones, read from the
   * database (public halves only), so a key another replica has just started
   * signing with is listed here too.
   */
  async jwks(): Promise<{ keys: JWK[] }> {
    const now = this.#now();
    const rows = await this.#db
      .selectFrom('signing_keys')
      .select(['kid', 'public_jwk'])
      .where('purpose', '=', ACCESS_TOKEN_PURPOSE)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .orderBy('activates_at')
      .orderBy('kid')
      .execute();
    return { keys: rows.map((row) => JSON.parse(row.public_jwk) as JWK) };
  }

  /**
   * Adds a new key that starts signing after `publishAheadMs` (publish first,
   * sign later); the current keys stop signing then and expire once every
   * token they signed has expired.
   */
  async rotate(publishAheadMs: number): Promise<SigningKey> {
    if (this.#fileKey)
      throw new ConfigError('the access-token signing key comes from AIRLOCK_SIGNING_KEY_FILE; rotate it by replacing the file');
    const now = this.#now();
    const activatesAt = now + publishAheadMs;
    const kid = await this.#insertGenerated(activatesAt);
    await this.#db
      .updateTable('signing_keys')
      .set({ retires_at: activatesAt, expires_at: activatesAt + this.#settings.accessTokenTtl + this.#settings.clockTolerance })
      .where('purpose', '=', ACCESS_TOKEN_PURPOSE)
      .where('kid', '!=', kid)
      .where((eb) => eb.or([eb('retires_at', 'is', null), eb('retires_at', '>', activatesAt)]))
      .execute();
    await this.reload();
    return this.#keys.find((k) => k.kid === kid)!;
  }

  // The newest key whose activation has come and that has not retired; ties
  // broken by kid so every replica picks the same one.
  #currentSigner(): SigningKey | undefined {
    if (this.#fileKey) return this.#keys.find((k) => k.kid === this.#fileKey!.kid) ?? this.#fileKey;
    const now = this.#now();
    return this.#keys
      .filter((k) => k.privateKey && k.activatesAt <= now && (k.retiresAt === null || k.retiresAt > now))
      .sort((a, b) => b.activatesAt - a.activatesAt || (a.kid < b.kid ? -1 : 1))[0];
  }

  async #insertGenerated(activatesAt: number): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair(GENERATED_ALGORITHM, { crv: 'Ed25519', extractable: true });
    // 128 random bits: unguessable and unique across replicas generating at once.
    const kid = randomBytes(16).toString('base64url');
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: GENERATED_ALGORITHM };
    const publicJwk = publishable(await exportJWK(publicKey), kid, GENERATED_ALGORITHM);
    await this.#db
      .insertInto('signing_keys')
      .values({
        kid,
        purpose: ACCESS_TOKEN_PURPOSE,
        alg: GENERATED_ALGORITHM,
        private_jwk: this.#sealer.seal(privateKeyContext(ACCESS_TOKEN_PURPOSE, kid), JSON.stringify(privateJwk)),
        public_jwk: JSON.stringify(publicJwk),
        created_at: this.#now(),
        activates_at: activatesAt,
        retires_at: null,
        expires_at: null,
      })
      .execute();
    return kid;
  }

  // The operator's key signs from now on. Only its public half is stored, so
  // other replicas (configured with the same file) and restarts verify it;
  // keys generated earlier retire but keep verifying what they signed.
  async #installKeyFile(file: string): Promise<void> {
    const now = this.#now();
    const key = await readKeyFile(file);
    this.#fileKey = { ...key, activatesAt: now, retiresAt: null, expiresAt: null };
    await this.#db
      .insertInto('signing_keys')
      .values({
        kid: key.kid,
        purpose: ACCESS_TOKEN_PURPOSE,
        alg: key.alg,
        private_jwk: '',
        public_jwk: JSON.stringify(key.publicJwk),
        created_at: now,
        activates_at: now,
        retires_at: null,
        expires_at: null,
      })
      .onConflict((oc) => oc.column('kid').doUpdateSet({ retires_at: null, expires_at: null }))
      .execute();
    await this.#db
      .updateTable('signing_keys')
      .set({ retires_at: now, expires_at: now + this.#settings.accessTokenTtl + this.#settings.clockTolerance })
      .where('purpose', '=', ACCESS_TOKEN_PURPOSE)
      .where('kid', '!=', key.kid)
      .where('retires_at', 'is', null)
      .execute();
  }
}

function times(row: SigningKeysTable): Pick<SigningKey, 'activatesAt' | 'retiresAt' | 'expiresAt'> {
  return {
    activatesAt: Number(row.activates_at),
    retiresAt: row.retires_at === null ? null : Number(row.retires_at),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  };
}

async function fromRow(row: SigningKeysTable, sealer: Sealer): Promise<SigningKey> {
  const alg = checkAlgorithm(row.alg, `signing key ${row.kid}`);
  const publicJwk = JSON.parse(row.public_jwk) as JWK;
  return {
    kid: row.kid,
    alg,
    publicKey: (await importJWK(publicJwk, alg)) as CryptoKey,
    privateKey: row.private_jwk
      ? ((await importJWK(JSON.parse(sealer.open(privateKeyContext(row.purpose, row.kid), row.private_jwk)) as JWK, alg)) as CryptoKey)
      : undefined,
    publicJwk,
    ...times(row),
  };
}

function checkAlgorithm(alg: string, what: string): SigningAlgorithm {
  if (!(SIGNING_ALGORITHMS as readonly string[]).includes(alg))
    throw new Error(`${what} uses ${alg}; only ${SIGNING_ALGORITHMS.join(' and ')} are allowed`);
  return alg as SigningAlgorithm;
}

function publishable(jwk: JWK, kid: string, alg: SigningAlgorithm): JWK {
  const { kty, crv, x, y } = jwk;
  return { kty, crv, x, ...(y ? { y } : {}), kid, alg, use: 'sig' };
}

/** Reads an EdDSA (Ed25519) or ES256 (P-256) private JWK; the messages never show key material. */
export async function readKeyFile(
  file: string,
): Promise<Omit<SigningKey, 'activatesAt' | 'retiresAt' | 'expiresAt'> & { privateKey: CryptoKey }> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(readFileSync(file, 'utf8')) as JWK;
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'not a JSON object';
    throw invalidSetting('signingKeyFile', `cannot read ${file}: ${reason}`);
  }
  let alg: SigningAlgorithm;
  if (jwk?.kty === 'OKP' && jwk.crv === 'Ed25519') alg = 'EdDSA';
  else if (jwk?.kty === 'EC' && jwk.crv === 'P-256') alg = 'ES256';
  else throw invalidSetting('signingKeyFile', `${file} must hold an Ed25519 (OKP) or P-256 (EC) private JWK`);
  if (jwk.alg && jwk.alg !== alg && !(alg === 'EdDSA' && jwk.alg === 'Ed25519')) {
    throw invalidSetting('signingKeyFile', `${file} declares alg ${jwk.alg}, which does not match its ${jwk.crv} key`);
  }
  if (typeof jwk.d !== 'string') throw invalidSetting('signingKeyFile', `${file} holds no private key (no "d")`);
  const kid = typeof jwk.kid === 'string' && jwk.kid ? jwk.kid : await calculateJwkThumbprint(jwk);
  try {
    const privateKey = (await importJWK({ ...jwk, alg }, alg)) as CryptoKey;
    const { d: _d, ...publicPart } = jwk;
    const publicKey = (await importJWK({ ...publicPart, alg }, alg)) as CryptoKey;
    return { kid, alg, privateKey, publicKey, publicJwk: publishable(jwk, kid, alg) };
  } catch {
    throw invalidSetting('signingKeyFile', `${file} is not a usable ${alg} key`);
  }
}
