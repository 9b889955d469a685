// The channels capability: what a signed-in caller may see and join, and
// their LiveKit token. Raises domain errors; knows nothing of gRPC.
import { InvalidArgumentError, NotFoundError, PermissionDeniedError } from '../errors.ts';
import type { ChannelCatalog, ChannelDefinition } from './catalog.ts';
import { CHANNEL_ID_RULE, isChannelId } from './channel-id.ts';
import { mayJoin } from './join-policy.ts';
import type { ChannelToken, LiveKitTokenMinter, Participant } from './livekit-tokens.ts';

export class ChannelAccess {
  #catalog: ChannelCatalog;
  readonly #minter: LiveKitTokenMinter;

  constructor(catalog: ChannelCatalog, minter: LiveKitTokenMinter) {
    this.#catalog = catalog;
    this.#minter = minter;
  }

  /** The catalog in force. */
  get catalog(): ChannelCatalog {
    return this.#catalog;
  }

  /** Puts a new catalog in force for tokens minted from now on (connected participants: RoomPresence.enforceCatalog). */
  replaceCatalog(catalog: ChannelCatalog): void {
    this.#catalog = catalog;
  }

  /** The channels this caller may join, in catalog order. */
  joinable(caller: Pick<Participant, 'did'>): ChannelDefinition[] {
    return this.#catalog.all().filter((channel) => mayJoin(channel, caller.did));
  }

  async tokenFor(caller: Participant, channelId: string): Promise<ChannelToken> {
    // The malformed id is not echoed: it may be anything up to the message size limit.
    if (!isChannelId(channelId)) throw new InvalidArgumentError(`channel_id must be ${CHANNEL_ID_RULE}`);
    const channel = this.#catalog.find(channelId);
    if (!channel) throw new NotFoundError(`no channel "${channelId}"`);
    if (!mayJoin(channel, caller.did)) throw new PermissionDeniedError(`you may not join channel "${channelId}"`);
    return this.#minter.mint(caller, channel);
  }
}
