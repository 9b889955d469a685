// Mints LiveKit access tokens for one participant in one room. The grants
// are built here and nowhere else: roomJoin for the channel's room plus
// exactly the channel's media permissions, and nothing administrative.
import { decodeJwt } from 'jose';
import type { VideoGrant } from 'livekit-server-sdk';
import type { ChannelDefinition } from './catalog.ts';

// The LiveKit SDK takes a fifth of a second to import, and serving does not
// need it before the first GetChannelToken: it loads after SERVING.
let sdk: Promise<typeof import('livekit-server-sdk')> | undefined;
export function loadLiveKitSdk(): Promise<typeof import('livekit-server-sdk')> {
  return (sdk ??= import('livekit-server-sdk'));
}

export interface LiveKitConfig {
  url: string;
  apiKey: string;
  apiSecret: string;
  /** Lifetime of a minted token, in whole seconds. */
  ttlSeconds: number;
}

/** The participant as LiveKit will know them. */
export interface Participant {
  /** The caller's DID: the LiveKit identity. */
  did: string;
  /** Shown as the participant's name. */
  handle: string;
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
  };
}

export class LiveKitTokenMinter {
  readonly #config: LiveKitConfig;

  constructor(config: LiveKitConfig) {
    if (!Number.isSafeInteger(config.ttlSeconds) || config.ttlSeconds < 1) throw new RangeError('LiveKit token TTL must be at least one second');
    this.#config = config;
  }

  async mint(participant: Participant, channel: ChannelDefinition): Promise<ChannelToken> {
    const { apiKey, apiSecret, ttlSeconds, url } = this.#config;
    const { AccessToken } = await loadLiveKitSdk();
    const accessToken = new AccessToken(apiKey, apiSecret, { identity: participant.did, name: participant.handle, ttl: ttlSeconds });
    accessToken.addGrant(channelGrant(channel));
    const token = await accessToken.toJwt();
    // The SDK stamps exp itself; report the exact value it signed.
    const { exp } = decodeJwt(token);
    return { token, livekitUrl: url, room: channel.room, identity: participant.did, expiresAt: new Date(exp! * 1000) };
  }
}
