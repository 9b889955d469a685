// ChannelsService over gRPC: a thin adapter from requests to ChannelAccess.
// The caller is ctx.identity (set by the bearer interceptor) and nothing else.
import {
  ChannelsServiceService,
  type Channel,
  type ChannelsServiceServer,
  type GetChannelTokenResponse,
  type ListChannelsResponse,
} from '../../../proto/gen/airlock/channels/v1/channels.ts';
import type { ChannelAccess } from '../../channels/channel-access.ts';
import type { ChannelDefinition } from '../../channels/catalog.ts';
import type { Participant } from '../../channels/livekit-tokens.ts';
import { UnauthenticatedError } from '../../errors.ts';
import { unary, type CallContext, type HandlerDeps } from './handlers.ts';
import type { ServiceBinding } from './server.ts';

export interface ChannelHandlerDeps extends HandlerDeps {
  channels: ChannelAccess;
}

export function channelHandlers(deps: ChannelHandlerDeps): ChannelsServiceServer {
  return {
    listChannels: unary(deps, async (_request, ctx): Promise<ListChannelsResponse> => {
      const caller = callerOf(ctx);
      return { channels: deps.channels.joinable(caller).map(toChannel) };
    }),
    getChannelToken: unary(deps, async (request, ctx): Promise<GetChannelTokenResponse> => {
      const caller = callerOf(ctx);
      const minted = await deps.channels.tokenFor(caller, request.channelId);
      return {
        token: minted.token,
        livekitUrl: minted.livekitUrl,
        room: minted.room,
        identity: minted.identity,
        expiresAt: minted.expiresAt,
      };
    }),
  };
}

export function channelsService(handlers: ChannelsServiceServer): ServiceBinding {
  return { name: 'airlock.channels.v1.ChannelsService', definition: ChannelsServiceService, implementation: handlers };
}

// The interceptor guards every ChannelsService method; should that ever be
// misconfigured, these handlers still refuse rather than mint for nobody.
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
