// Mints LiveKit access tokens for one participant in one room. The grants
// are built here and nowhere else: roomJoin for the channel's room plus
// exactly the channel's media permissions, and nothing administrative; the
// participant may not change its own name, metadata or attributes, which
// carry who Airlock verified (DID, handle, session) and the channel.
import { decodeJwt } from 'jose';
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

export class LiveKitTokenMinter {
  readonly #config: LiveKitConfig;

  constructor(config: LiveKitConfig) {
    if (!Number.isSafeInteger(config.ttlSeconds) || config.ttlSeconds < 1)
      throw new RangeError('LiveKit token TTL must be at least one second');
    this.#config = config;
  }

  async mint(participant: Participant, channel: ChannelDefinition): Promise<ChannelToken> {
    const { apiKey, apiSecret, ttlSeconds, url } = this.#config;
    const { AccessToken } = await loadLiveKitSdk();
    const identity = participantIdentity(this.#config.identity ?? 'did', participant);
    const accessToken = new AccessToken(apiKey, apiSecret, {
      identity,
      name: participant.handle,
      ttl: ttlSeconds,
      attributes: {
        [ATTRIBUTE.did]: participant.did,
        [ATTRIBUTE.handle]: participant.handle,
        [ATTRIBUTE.session]: participant.sessionId,
        [ATTRIBUTE.channel]: channel.id,
      },
    });
    accessToken.addGrant(channelGrant(channel));
    const token = await accessToken.toJwt();
    // The SDK stamps exp itself; report the exact value it signed.
    const { exp } = decodeJwt(token);
    return { token, livekitUrl: url, room: channel.room, identity, expiresAt: new Date(exp! * 1000) };
  }
}
