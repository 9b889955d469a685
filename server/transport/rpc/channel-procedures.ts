// ListChannels and GetChannelToken: thin procedures over ChannelAccess. The
// caller is ctx.identity (set by the bearer check) and nothing else.
import type {
  Channel,
  GetChannelTokenRequest,
  GetChannelTokenResponse,
  ListChannelsRequest,
  ListChannelsResponse,
} from '../../../proto/gen/airlock/channels/v1/channels.ts';
import type { ChannelDefinition } from '../../channels/catalog.ts';
import type { ChannelAccess } from '../../channels/channel-access.ts';
import type { Participant } from '../../channels/livekit-tokens.ts';
import { UnauthenticatedError } from '../../errors.ts';
import type { CallContext, UnaryProcedure } from './call-context.ts';

export interface ChannelProcedures {
  listChannels: UnaryProcedure<ListChannelsRequest, ListChannelsResponse>;
  getChannelToken: UnaryProcedure<GetChannelTokenRequest, GetChannelTokenResponse>;
}

export function channelProcedures(channels: ChannelAccess): ChannelProcedures {
  return {
    async listChannels(_request, ctx) {
      return { channels: channels.joinable(callerOf(ctx)).map(toChannel) };
    },
    async getChannelToken(request, ctx) {
      const minted = await channels.tokenFor(callerOf(ctx), request.channelId);
      return {
        token: minted.token,
        livekitUrl: minted.livekitUrl,
        room: minted.room,
        identity: minted.identity,
        expiresAt: minted.expiresAt,
      };
    },
  };
}

// The policy guards every ChannelsService method; should that ever be
// misconfigured, these procedures still refuse rather than mint for nobody.
function callerOf(ctx: CallContext): Participant {
  const identity = ctx.identity;
  if (!identity) throw new UnauthenticatedError('TOKEN_MISSING', 'this method needs a bearer access token');
  return { did: identity.did, handle: identity.handle, sessionId: identity.sessionId };
}

function toChannel(channel: ChannelDefinition): Channel {
  return {
    id: channel.id,
    name: channel.name,
    canPublish: channel.permissions.publish,
    canSubscribe: channel.permissions.subscribe,
    canPublishData: channel.permissions.publishData,
  };
}
