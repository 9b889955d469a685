// Mints LiveKit access tokens for one participant in one room. The grants
// are built here and nowhere else: roomJoin for the channel's room plus
// exactly the channel's media permissions, and nothing administrative; the
// participant may not change its own name, metadata or attributes, which
// carry who Airlock verified (DID, handle, session) and the channel.
//
// The JWT is signed here with node:crypto (HS256), byte for byte the token
// the SDK's AccessToken.toJwt() makes (test/channels/livekit-token.test.ts
// compares them): the SDK goes through jose and WebCrypto, which cost most
// of a GetChannelToken call.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { VideoGrant } from 'livekit-server-sdk';
import { LRUCache } from 'lru-cache';
import type { ChannelDefinition } from './catalog.ts';

// The LiveKit SDK takes a fifth of a second to import, and serving does not
// need it before the first GetChannelToken: it loads after SERVING.
let sdk: Promise<typeof import('livekit-server-sdk')> | undefined;
export function loadLiveKitSdk(): Promise<typeof import('livekit-server-sdk')> {
  sdk ??= import('livekit-server-sdk');
  return sdk;
}

export interface LiveKitConfig {
  url: string;
  apiKey: string;
  apiSecret: string;
  /** Lifetime of a minted token, in whole seconds. */
  ttlSeconds: number;
  /** The LiveKit identity: the DID, or one per session (`<did>#<session suffix>`). */
  identity?: IdentityMode;
  /**
   * A repeat request within this many ms (same session, DID, handle and
   * channel definition) gets the token minted then; 0 or absent mints every time.
   */
  reuseMs?: number;
  /** Tokens kept for reuse, least recently used dropped first. */
  reuseEntries?: number;
}

interface MintedToken {
  token: Readonly<ChannelToken>;
  /** The catalog's definition it was minted for: a new catalog mints again. */
  channel: ChannelDefinition;
  did: string;
  handle: string;
  mintedAt: number;
}

export type IdentityMode = 'did' | 'session';

/** The longest reuse of a token with this lifetime: it keeps at least three quarters of it. */
export function maxTokenReuseMs(ttlSeconds: number): number {
  return Math.floor((ttlSeconds * 1000) / 4);
}

/** The participant as LiveKit will know them. */
export interface Participant {
  /** The caller's verified DID: the LiveKit identity (or its prefix, per session). */
  did: string;
  /** Shown as the participant's name. */
  handle: string;
  /** The Airlock session the access token belongs to: revoking it removes the participant. */
  sessionId: string;
}

/** Participant attributes every token carries; only Airlock (server API) can change them. */
export const ATTRIBUTE = {
  did: 'airlock.did',
  handle: 'airlock.handle',
  session: 'airlock.session',
  channel: 'airlock.channel',
} as const;

/** Characters of the session id after "#" in per-session identities. */
const SESSION_SUFFIX_LENGTH = 8;

export function participantIdentity(mode: IdentityMode, participant: Participant): string {
  return mode === 'session' ? `${participant.did}#${participant.sessionId.slice(0, SESSION_SUFFIX_LENGTH)}` : participant.did;
}

export interface ChannelToken {
  token: string;
  livekitUrl: string;
  room: string;
  identity: string;
  expiresAt: Date;
}

export function channelGrant(channel: ChannelDefinition): VideoGrant {
  // Every media flag is written explicitly: LiveKit treats a missing
  // canPublish/canSubscribe/canPublishData as allowed.
  return {
    roomJoin: true,
    room: channel.room,
    canPublish: channel.permissions.publish,
    canSubscribe: channel.permissions.subscribe,
    canPublishData: channel.permissions.publishData,
    // Name, metadata and attributes say who Airlock verified: never the participant's to change.
    canUpdateOwnMetadata: false,
  };
}

// base64url of the SDK's protected header, {"alg":"HS256"}.
const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256' })).toString('base64url');

export class LiveKitTokenMinter {
  readonly #config: LiveKitConfig;
  readonly #secret: KeyObject;
  /** Tokens minted in the last reuseMs, by session and channel id. */
  readonly #recent: LRUCache<string, MintedToken> | undefined;
  readonly #reuseMs: number;

  constructor(config: LiveKitConfig) {
    if (!Number.isSafeInteger(config.ttlSeconds) || config.ttlSeconds < 1)
      throw new RangeError('LiveKit token TTL must be at least one second');
    this.#config = config;
    this.#secret = createSecretKey(Buffer.from(config.apiSecret, 'utf8'));
    this.#reuseMs = config.reuseMs ?? 0;
    if (this.#reuseMs > maxTokenReuseMs(config.ttlSeconds))
      throw new RangeError('LiveKit token reuse must be at most a quarter of its TTL');
    this.#recent = this.#reuseMs > 0 ? new LRUCache({ max: Math.max(1, config.reuseEntries ?? 10_000) }) : undefined;
  }

  /** Tokens kept for reuse. */
  get reusable(): number {
    return this.#recent?.size ?? 0;
  }

  /**
   * A LiveKit token for the participant in the channel's room. Repeat calls
   * within reuseMs get the same token: the caller was authenticated for this
   * call (a revoked session never gets here), and the key holds everything
   * the token says (session, DID, handle, the channel's definition, hence its grants).
   */
  async mint(participant: Participant, channel: ChannelDefinition): Promise<ChannelToken> {
    if (!this.#recent) return this.#mint(participant, channel);
    const key = `${participant.sessionId}\n${channel.id}`;
    const now = Date.now();
    const recent = this.#recent.get(key);
    if (
      recent &&
      recent.channel === channel &&
      recent.did === participant.did &&
      recent.handle === participant.handle &&
      now - recent.mintedAt < this.#reuseMs
    ) {
      return recent.token;
    }
    const token = Object.freeze(this.#mint(participant, channel));
    this.#recent.set(key, { token, channel, did: participant.did, handle: participant.handle, mintedAt: now });
    return token;
  }

  #mint(participant: Participant, channel: ChannelDefinition): ChannelToken {
    const { apiKey, ttlSeconds, url } = this.#config;
    const identity = participantIdentity(this.#config.identity ?? 'did', participant);
    const now = Math.floor(Date.now() / 1000);
    const exp = now + ttlSeconds;
    // The SDK's claims in the SDK's order: its grants (attributes, name,
    // video), then iss, exp, nbf and sub as jose's SignJWT appends them.
    const claims = {
      attributes: {
        [ATTRIBUTE.did]: participant.did,
        [ATTRIBUTE.handle]: participant.handle,
        [ATTRIBUTE.session]: participant.sessionId,
        [ATTRIBUTE.channel]: channel.id,
      },
      name: participant.handle,
      video: channelGrant(channel),
      iss: apiKey,
      exp,
      nbf: now,
      sub: identity,
    };
    const signingInput = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const token = `${signingInput}.${createHmac('sha256', this.#secret).update(signingInput).digest('base64url')}`;
    return { token, livekitUrl: url, room: channel.room, identity, expiresAt: new Date(exp * 1000) };
  }
}
