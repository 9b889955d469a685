// Builds the channels capability from settings, once, at start: the catalog
// (a bad one stops the server) and the LiveKit minter.
import type { Kysely } from 'kysely';
import { invalidSetting } from '../config/load.ts';
import { SETTINGS, type Settings } from '../config/settings.ts';
import type { Logger } from '../observability/logger.ts';
import { loadCatalog } from './catalog.ts';
import { ChannelAccess } from './channel-access.ts';
import { liveKitRooms } from './livekit-rooms.ts';
import { LiveKitTokenMinter, maxTokenReuseMs } from './livekit-tokens.ts';
import { RoomPresence } from './presence.ts';
import type { Database } from '../storage/schema.ts';

export type ChannelSettings = Pick<
  Settings,
  | 'channelsFile'
  | 'livekitUrl'
  | 'livekitApiKey'
  | 'livekitApiSecret'
  | 'channelTokenTtl'
  | 'livekitIdentity'
  | 'channelTokenReuse'
  | 'channelTokenReuseEntries'
>;

export type PresenceSettings = Pick<
  Settings,
  'livekitUrl' | 'livekitApiKey' | 'livekitApiSecret' | 'livekitApiTimeout' | 'livekitWebhookMaxAge' | 'presenceCheckInterval'
>;

/** Whether these are livekit-server --dev's well-known credentials (production mode refuses them in config/load.ts). */
export function usesDevLiveKitCredentials(settings: ChannelSettings): boolean {
  return settings.livekitApiKey === SETTINGS.livekitApiKey.default || settings.livekitApiSecret === SETTINGS.livekitApiSecret.default;
}

export function setUpChannels(settings: ChannelSettings, logger: Logger): ChannelAccess {
  const catalog = loadCatalog(settings.channelsFile);
  // LiveKit token lifetimes are whole seconds.
  const ttlSeconds = Math.floor(settings.channelTokenTtl / 1000);
  if (ttlSeconds < 1) {
    throw invalidSetting('channelTokenTtl', 'must be at least 1s');
  }
  // A short TTL shortens the reuse window rather than refusing the default.
  const reuseMs = Math.min(settings.channelTokenReuse, maxTokenReuseMs(ttlSeconds));
  if (usesDevLiveKitCredentials(settings)) {
    logger.warn(
      { livekitUrl: settings.livekitUrl },
      `LiveKit development credentials in use (livekit-server --dev's "devkey"/"secret"): anyone can mint tokens for this LiveKit; set ${SETTINGS.livekitApiKey.env} and ${SETTINGS.livekitApiSecret.env}`,
    );
  }
  logger.info(
    { channels: catalog.all().length, catalog: settings.channelsFile || 'embedded default', livekitUrl: settings.livekitUrl, ttlSeconds },
    'channel catalog loaded',
  );
  const minter = new LiveKitTokenMinter({
    url: settings.livekitUrl,
    apiKey: settings.livekitApiKey,
    apiSecret: settings.livekitApiSecret,
    ttlSeconds,
    identity: settings.livekitIdentity,
    reuseMs,
    reuseEntries: settings.channelTokenReuseEntries,
  });
  return new ChannelAccess(catalog, minter);
}

/** Presence from LiveKit's webhooks, and the server API that removes or narrows participants. */
export function setUpPresence(settings: PresenceSettings, db: Kysely<Database>, channels: ChannelAccess, logger: Logger): RoomPresence {
  const rooms = liveKitRooms({
    url: settings.livekitUrl,
    apiKey: settings.livekitApiKey,
    apiSecret: settings.livekitApiSecret,
    timeoutMs: settings.livekitApiTimeout,
  });
  return new RoomPresence({
    db,
    rooms,
    catalog: () => channels.catalog,
    apiKey: settings.livekitApiKey,
    apiSecret: settings.livekitApiSecret,
    webhookMaxAgeMs: settings.livekitWebhookMaxAge,
    checkIntervalMs: settings.presenceCheckInterval,
    logger,
  });
}
