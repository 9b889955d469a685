// Airlock access tokens: short-lived JWTs (RFC 9068 shape, header typ
// "at+jwt") signed with our own keys and verified only against them.
//
// Claims: iss = the public URL, aud = the configured audience, sub = the DID
// proven by the OAuth login, handle, sid = the Airlock session id, iat, nbf,
// exp, jti.
import { randomBytes } from 'node:crypto';
import { errors, jwtVerify, SignJWT, type JWTHeaderParameters, type JWTPayload } from 'jose';
import type { Settings } from '../config/settings.ts';
import { UnauthenticatedError } from '../errors.ts';
import { SIGNING_ALGORITHMS, type SigningKeyRing } from './signing-keys.ts';
import { VerifiedTokenCache } from './verified-token-cache.ts';

export const ACCESS_TOKEN_TYPE = 'at+jwt';

export interface AccessTokenSubject {
  did: string;
  handle: string;
  sessionId: string;
}

export interface VerifiedAccessToken extends AccessTokenSubject {
  expiresAt: Date;
  issuedAt: Date;
  jti: string;
}

export interface IssuedAccessToken {
  token: string;
  expiresAt: Date;
}

export interface AccessTokensOptions {
  keys: SigningKeyRing;
  /** iss: the public URL of this deployment. */
  issuer: string;
  settings: Pick<Settings, 'tokenAudience' | 'accessTokenTtl' | 'clockTolerance'> & Partial<Pick<Settings, 'verifiedTokenCacheSize'>>;
  now?: () => number;
}

export class AccessTokens {
  readonly #keys: SigningKeyRing;
  readonly #issuer: string;
  readonly #audience: string;
  readonly #ttlMs: number;
  readonly #toleranceSeconds: number;
  readonly #now: () => number;
  readonly #verified: VerifiedTokenCache;

  constructor(options: AccessTokensOptions) {
    this.#keys = options.keys;
    this.#issuer = options.issuer;
    this.#audience = options.settings.tokenAudience;
    this.#ttlMs = options.settings.accessTokenTtl;
    this.#toleranceSeconds = Math.ceil(options.settings.clockTolerance / 1000);
    this.#now = options.now ?? Date.now;
    this.#verified = new VerifiedTokenCache(options.settings.verifiedTokenCacheSize ?? 0);
    options.keys.onRetire((kid) => this.#verified.forgetKey(kid));
  }

  /** Tokens remembered as verified (for tests and metrics). */
  get cachedTokens(): number {
    return this.#verified.size;
  }

  /** Drops a token from the verified-token cache (it was refused for a reason found after verification). */
  forget(token: string): void {
    this.#verified.forget(token);
  }

  get issuer(): string {
    return this.#issuer;
  }

  /** Signs a token for the subject; it never outlives `notAfter` (the session's absolute end). */
  async issue(subject: AccessTokenSubject, notAfter?: number): Promise<IssuedAccessToken> {
    const key = await this.#keys.signer();
    const now = this.#now();
    const iat = Math.floor(now / 1000);
    const exp = Math.floor(Math.min(now + this.#ttlMs, notAfter ?? Infinity) / 1000);
    const token = await new SignJWT({ handle: subject.handle, sid: subject.sessionId })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYPE })
      .setIssuer(this.#issuer)
      .setAudience(this.#audience)
      .setSubject(subject.did)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(key.privateKey);
    return { token, expiresAt: new Date(exp * 1000) };
  }

  /**
   * Verifies a token against our own key set only: algorithm pinned, kid
   * selecting one of our keys, iss, aud, exp, nbf and typ checked. Throws
   * UnauthenticatedError TOKEN_EXPIRED or TOKEN_INVALID; messages never
   * contain the token. A token verified before is answered from the cache
   * until its exp, as long as its key still verifies.
   */
  async verify(token: string): Promise<VerifiedAccessToken> {
    const now = this.#now();
    const hit = this.#verified.get(token, now);
    if (hit) {
      // The key may have left the set since (another replica removed it): ask the ring as full verification would.
      if (await this.#keys.verifier(hit.kid)) return hit.verified;
      this.#verified.delete(hit.hash);
    }
    let payload: JWTPayload;
    let kid: string;
    try {
      let protectedHeader: JWTHeaderParameters;
      ({ payload, protectedHeader } = await jwtVerify(token, (header) => this.#keyFor(header), {
        algorithms: [...SIGNING_ALGORITHMS],
        issuer: this.#issuer,
        audience: this.#audience,
        typ: ACCESS_TOKEN_TYPE,
        clockTolerance: this.#toleranceSeconds,
        currentDate: new Date(now),
        requiredClaims: ['iss', 'aud', 'sub', 'exp', 'iat', 'nbf', 'jti'],
      }));
      kid = protectedHeader.kid!;
    } catch (error) {
      if (error instanceof errors.JWTExpired)
        throw new UnauthenticatedError('TOKEN_EXPIRED', 'the access token has expired; refresh the session and retry');
      throw new UnauthenticatedError('TOKEN_INVALID', `the access token is not valid: ${describe(error)}`);
    }
    const { sub, sid, handle, exp, iat, jti } = payload;
    if (
      typeof sub !== 'string' ||
      !sub.startsWith('did:') ||
      typeof sid !== 'string' ||
      !sid ||
      typeof handle !== 'string' ||
      typeof jti !== 'string'
    ) {
      throw new UnauthenticatedError('TOKEN_INVALID', 'the access token is not valid: missing or malformed claims');
    }
    // Defence in depth: tokens we sign are never issued in the future nor live
    // longer than the configured lifetime, so one that does was not made by us
    // as configured now (a leaked key, a misconfigured replica). Checked before
    // caching, so such a token is never remembered as verified.
    if (iat! > now / 1000 + this.#toleranceSeconds) {
      throw new UnauthenticatedError('TOKEN_INVALID', 'the access token is not valid: issued in the future');
    }
    if (exp! - iat! > this.#ttlMs / 1000 + this.#toleranceSeconds) {
      throw new UnauthenticatedError('TOKEN_INVALID', 'the access token is not valid: its lifetime is longer than this server issues');
    }
    return this.#verified.remember(
      token,
      kid,
      { did: sub, handle, sessionId: sid, expiresAt: new Date(exp! * 1000), issuedAt: new Date(iat! * 1000), jti },
      now,
    );
  }

  async #keyFor(header: JWTHeaderParameters) {
    if (typeof header.kid !== 'string') throw new UnknownKey('the token names no key');
    const key = await this.#keys.verifier(header.kid);
    if (!key) throw new UnknownKey('the token was not signed by a key of this server');
    // jose checks the key type; this pins the exact algorithm of that key.
    if (header.alg !== key.alg) throw new UnknownKey('the token algorithm does not match its key');
    return key.publicKey;
  }
}

class UnknownKey extends Error {}

// A short, fixed explanation per failure; jose's messages are safe too, but
// this keeps anything derived from the token itself out of the reply.
function describe(error: unknown): string {
  if (error instanceof UnknownKey) return error.message;
  if (error instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad signature';
  if (error instanceof errors.JWTClaimValidationFailed) return `claim ${error.claim} is not acceptable`;
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid) return 'malformed token';
  if (error instanceof errors.JOSENotSupported) return 'unsupported token';
  return 'malformed token';
}
