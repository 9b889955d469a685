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
}

export type IdentityMode = 'did' | 'session';

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

  constructor(config: LiveKitConfig) {
    if (!Number.isSafeInteger(config.ttlSeconds) || config.ttlSeconds < 1)
      throw new RangeError('LiveKit token TTL must be at least one second');
    this.#config = config;
    this.#secret = createSecretKey(Buffer.from(config.apiSecret, 'utf8'));
  }

  async mint(participant: Participant, channel: ChannelDefinition): Promise<ChannelToken> {
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
