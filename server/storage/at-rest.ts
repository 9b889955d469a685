// Envelope encryption of the secrets Airlock keeps in its database: the
// signing keys' and the OAuth client's private JWKs, and every value of the
// ATProto OAuth session and state stores (PDS tokens, DPoP keys, PKCE
// verifiers), and each pending login's confirmation code and initiator
// address. Each value is sealed with AES-256-GCM under a master key
// (key-encryption key) that never enters the database: it comes from
// AIRLOCK_MASTER_KEY_FILE or AIRLOCK_MASTER_KEY, or in development from a
// key file generated in the data directory.
//
// A sealed value is "enc1.<key id>.<iv>.<ciphertext+tag>" (base64url). The
// key id names the master key, so during a rolling rotation replicas that
// know both keys read values sealed under either; the first configured key
// seals. Each value is bound to its row (additional authenticated data), so
// a sealed value copied to another row does not open.
import { createCipheriv, createDecipheriv, createHash, createHmac, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { invalidSetting } from '../config/load.ts';
import type { Settings } from '../config/settings.ts';

const PREFIX = 'enc1';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const GENERATED_KEY_FILE = 'master.key';

export interface MasterKey {
  id: string;
  key: Buffer;
}

/** Seals and opens the secrets of stored rows; `context` names the row (table and key). */
export class Sealer {
  readonly #current: { id: string; key: KeyObject };
  // KeyObjects, not Buffers: node:crypto takes a raw key Buffer through a
  // slow path on every cipher and HMAC (several times the cost of the AES).
  readonly #byId: Map<string, KeyObject>;
  /** Per purpose, derived once: the purposes are a handful of constants in the code. */
  readonly #fingerprintKeys = new Map<string, KeyObject>();

  constructor(keys: MasterKey[]) {
    if (keys.length === 0) throw new Error('no master key');
    this.#byId = new Map(keys.map((k) => [k.id, createSecretKey(k.key)]));
    this.#current = { id: keys[0]!.id, key: this.#byId.get(keys[0]!.id)! };
  }

  /** The id of the key that seals. */
  get currentKeyId(): string {
    return this.#current.id;
  }

  seal(context: string, plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#current.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${PREFIX}.${this.#current.id}.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  /**
   * The plaintext of a sealed value. A value stored before encryption
   * existed (not sealed) is returned as it is; the start-up pass seals those.
   */
  open(context: string, stored: string): string {
    if (!isSealed(stored)) return stored;
    const [, id, iv, body] = stored.split('.');
    const key = this.#byId.get(id!);
    if (!key)
      throw new Error(
        `a stored secret is sealed under master key ${id}, which this server does not have (AIRLOCK_MASTER_KEY_FILE / AIRLOCK_MASTER_KEY)`,
      );
    const bytes = Buffer.from(body!, 'base64url');
    if (bytes.length < TAG_BYTES) throw new Error('a stored secret is corrupt');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv!, 'base64url'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('a stored secret does not open with its master key (tampered with, or copied to another row)');
    }
  }

  /**
   * A keyed fingerprint of a value that is only ever compared, never read
   * back (HMAC-SHA256 under a key derived from the sealing master key): a
   * copy of the database cannot test guesses against it (e.g. all IPv4
   * addresses). After a master-key rotation, new values no longer match old ones.
   */
  fingerprint(purpose: string, value: string): string {
    let key = this.#fingerprintKeys.get(purpose);
    if (!key) {
      key = createSecretKey(createHmac('sha256', this.#current.key).update(`airlock-fingerprint:${purpose}`).digest());
      this.#fingerprintKeys.set(purpose, key);
    }
    return createHmac('sha256', key).update(value, 'utf8').digest('base64url');
  }

  /** Whether a stored value is sealed under the key that seals now. */
  isCurrent(stored: string): boolean {
    return stored.startsWith(`${PREFIX}.${this.#current.id}.`);
  }
}

export function isSealed(stored: string): boolean {
  return stored.startsWith(`${PREFIX}.`);
}

/** A key's id: a short hash of it (reveals nothing usable about a 256-bit random key). */
export function masterKeyId(key: Buffer): string {
  return createHash('sha256').update('airlock-master-key-id').update(key).digest('base64url').slice(0, 12);
}

function parseKeys(text: string, where: string, setting: 'masterKeyFile' | 'masterKey'): MasterKey[] {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  if (parts.length === 0) throw invalidSetting(setting, `${where} holds no key`);
  return parts.map((part, i) => {
    const key = Buffer.from(part, 'base64url');
    if (key.length !== KEY_BYTES || !/^[A-Za-z0-9+/_-]+=*$/.test(part)) {
      throw invalidSetting(
        setting,
        `key ${i + 1} of ${where} is not ${KEY_BYTES} bytes in base64 (make one with: openssl rand -base64 32)`,
      );
    }
    return { id: masterKeyId(key), key };
  });
}

/** A new master key, as a key file holds it. */
export function newMasterKeyText(): string {
  return randomBytes(KEY_BYTES).toString('base64url');
}

/**
 * The master keys from the settings: AIRLOCK_MASTER_KEY_FILE, else
 * AIRLOCK_MASTER_KEY, else (development only: load.ts refuses production
 * without one) <data dir>/master.key, generated 0600 on first start.
 * Several keys (whitespace or comma separated): the first seals, every one opens.
 */
export function loadMasterKeys(settings: Pick<Settings, 'masterKeyFile' | 'masterKey' | 'dataDir'>): Sealer {
  if (settings.masterKeyFile) {
    let text: string;
    try {
      text = readFileSync(settings.masterKeyFile, 'utf8');
    } catch (error) {
      throw invalidSetting(
        'masterKeyFile',
        `cannot read ${settings.masterKeyFile}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`,
      );
    }
    return new Sealer(parseKeys(text, settings.masterKeyFile, 'masterKeyFile'));
  }
  if (settings.masterKey) return new Sealer(parseKeys(settings.masterKey, 'AIRLOCK_MASTER_KEY', 'masterKey'));
  const dir = privateDataDir(settings.dataDir);
  const file = path.join(dir, GENERATED_KEY_FILE);
  try {
    if (!existsSync(file)) writeFileSync(file, `${newMasterKeyText()}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
      throw invalidSetting('dataDir', `cannot create ${file}: ${(error as Error).message}`);
  }
  privateFile(file);
  return new Sealer(parseKeys(readFileSync(file, 'utf8'), file, 'masterKeyFile'));
}

/** Creates the data directory if needed and makes it 0700, whatever the umask or its mode before. */
export function privateDataDir(dir: string): string {
  const resolved = path.resolve(dir);
  try {
    mkdirSync(resolved, { recursive: true, mode: 0o700 });
    chmodSync(resolved, 0o700);
  } catch (error) {
    throw invalidSetting('dataDir', `cannot prepare ${resolved}: ${(error as Error).message}`);
  }
  return resolved;
}

/** Makes a file 0600 if it exists. */
export function privateFile(file: string): void {
  if (existsSync(file)) chmodSync(file, 0o600);
}

/** The context (additional authenticated data) of a signing_keys row's private JWK. */
export function privateKeyContext(purpose: string, kid: string): string {
  return `signing_keys:${purpose}:${kid}`;
}

/** The context of a login's sealed confirmation (its code and the initiator's address). */
export function loginConfirmationContext(ref: string): string {
  return `logins:confirmation:${ref}`;
}
