// ChannelsService over gRPC.
import { ChannelsServiceService, type ChannelsServiceServer } from '../../../proto/gen/airlock/channels/v1/channels.ts';
import { notImplemented, type HandlerDeps } from './handlers.ts';
import type { ServiceBinding } from './server.ts';

export function channelHandlers(_deps: HandlerDeps): ChannelsServiceServer {
  return {
    listChannels: notImplemented('ListChannels'),
    getChannelToken: notImplemented('GetChannelToken'),
  };
}

export function channelsService(handlers: ChannelsServiceServer): ServiceBinding {
  return { name: 'airlock.channels.v1.ChannelsService', definition: ChannelsServiceService, implementation: handlers };
}
