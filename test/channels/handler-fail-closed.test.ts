// The ChannelsService handlers refuse on their own when no identity reached
// them. The server here is real (grpc-js, real socket, real client) but is
// deliberately built WITHOUT the bearer interceptor: that misconfiguration is
// the fault under test, and it cannot be caused through startAirlock.
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelsServiceClient } from '../../proto/gen/airlock/channels/v1/channels.ts';
import { setUpChannels } from '../../server/channels/setup.ts';
import { createLogger } from '../../server/observability/logger.ts';
import { CallTracker } from '../../server/transport/grpc/call-tracker.ts';
import { channelHandlers, channelsService } from '../../server/transport/grpc/channels-service.ts';
import { GrpcTransport } from '../../server/transport/grpc/server.ts';
import { readErrorInfo } from '../../server/transport/grpc/status.ts';
import { testSettings } from '../support/settings.ts';

let transport: GrpcTransport;
let client: ChannelsServiceClient;

beforeAll(async () => {
  const settings = testSettings();
  const logger = createLogger(settings);
  const tracker = new CallTracker();
  const channels = setUpChannels(settings, logger);
  transport = new GrpcTransport({ settings, logger, tracker, services: [channelsService(channelHandlers({ logger, tracker, channels }))] });
  const port = await transport.listen();
  client = new ChannelsServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await transport?.shutdown(1_000);
});

// Metadata a client could send hoping to pass for a verified caller.
function spoofed(): Metadata {
  const metadata = new Metadata();
  metadata.set('x-airlock-did', 'did:plc:ewvi7nxzyoun6zhxrhs64oiz');
  metadata.set('identity', 'did:plc:ewvi7nxzyoun6zhxrhs64oiz');
  metadata.set('did', 'did:plc:ewvi7nxzyoun6zhxrhs64oiz');
  metadata.set('x-airlock-handle', 'alice.test');
  return metadata;
}

function failure(invoke: (cb: (error: ServiceError | null) => void) => void): Promise<ServiceError> {
  return new Promise((resolve, reject) => invoke((error) => (error ? resolve(error) : reject(new Error('the call succeeded')))));
}

describe('ChannelsService without an identity', () => {
  it('ListChannels is UNAUTHENTICATED (TOKEN_MISSING), spoofed identity metadata or not', async () => {
    for (const metadata of [new Metadata(), spoofed()]) {
      const error = await failure((cb) => client.listChannels({}, metadata, cb));
      expect(error.code).toBe(status.UNAUTHENTICATED);
      expect(readErrorInfo(error.metadata)?.reason).toBe('TOKEN_MISSING');
    }
  });

  it('GetChannelToken is UNAUTHENTICATED before the channel id is even looked at', async () => {
    for (const channelId of ['lobby', 'nowhere', 'NOT VALID']) {
      const error = await failure((cb) => client.getChannelToken({ channelId }, spoofed(), cb));
      expect(error.code).toBe(status.UNAUTHENTICATED);
      expect(readErrorInfo(error.metadata)?.reason).toBe('TOKEN_MISSING');
    }
  });
});
