// ChannelsService over gRPC: the procedures of rpc/channel-procedures.ts
// bound to grpc-js.
import { ChannelsServiceService, type ChannelsServiceServer } from '../../../proto/gen/airlock/channels/v1/channels.ts';
import type { ChannelAccess } from '../../channels/channel-access.ts';
import { channelProcedures } from '../rpc/channel-procedures.ts';
import { unary, type HandlerDeps } from './handlers.ts';
import type { ServiceBinding } from './server.ts';

export interface ChannelHandlerDeps extends HandlerDeps {
  channels: ChannelAccess;
}

export function channelHandlers(deps: ChannelHandlerDeps): ChannelsServiceServer {
  const procedures = channelProcedures(deps.channels);
  return {
    listChannels: unary(deps, procedures.listChannels),
    getChannelToken: unary(deps, procedures.getChannelToken),
  };
}

export function channelsService(handlers: ChannelsServiceServer): ServiceBinding {
  return { name: 'airlock.channels.v1.ChannelsService', definition: ChannelsServiceService, implementation: handlers };
}
