// ChannelsService over gRPC.
import type { ChannelsServiceServer } from '../../../proto/gen/airlock/channels/v1/channels.ts';
import { ChannelsServiceService } from '../../../proto/gen/airlock/channels/v1/channels.ts';
import { notImplemented, type HandlerDeps } from './handlers.ts';
import type { ServiceBinding } from './server.ts';

export function channelsService(_deps: HandlerDeps): ServiceBinding {
  const implementation: ChannelsServiceServer = {
    listChannels: notImplemented('ListChannels'),
    getChannelToken: notImplemented('GetChannelToken'),
  };
  return { name: 'airlock.channels.v1.ChannelsService', definition: ChannelsServiceService, implementation };
}
