// The Connect client speaks protobuf-es messages (proto/gen-es); the client
// core reads the ts-proto shapes of proto/gen (Date for a Timestamp, a
// `$case` oneof). The few messages the core reads are mapped here, field by
// field (the type checker holds both sides to the contract).
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import type * as ts from '../../proto/gen/airlock/auth/v1/auth.ts';
import type * as tsChannels from '../../proto/gen/airlock/channels/v1/channels.ts';
import type * as es from '../../proto/gen-es/airlock/auth/v1/auth_pb.js';
import type * as esChannels from '../../proto/gen-es/airlock/channels/v1/channels_pb.js';

function date(timestamp: Timestamp | undefined): Date | undefined {
  return timestamp && timestampDate(timestamp);
}

export function session(message: es.Session | undefined): ts.Session | undefined {
  return (
    message && {
      accessToken: message.accessToken,
      accessTokenExpiresAt: date(message.accessTokenExpiresAt),
      refreshToken: message.refreshToken,
      refreshTokenExpiresAt: date(message.refreshTokenExpiresAt),
      did: message.did,
      handle: message.handle,
      pdsUrl: message.pdsUrl,
      sessionId: message.sessionId,
    }
  );
}

export function initiateLoginResponse(message: es.InitiateLoginResponse): ts.InitiateLoginResponse {
  return {
    loginId: message.loginId,
    authorizeUrl: message.authorizeUrl,
    expiresAt: date(message.expiresAt),
    confirmationCode: message.confirmationCode,
  };
}

export function whoAmIResponse(message: es.WhoAmIResponse): ts.WhoAmIResponse {
  return {
    did: message.did,
    handle: message.handle,
    sessionId: message.sessionId,
    accessTokenExpiresAt: date(message.accessTokenExpiresAt),
  };
}

export function listChannelsResponse(message: esChannels.ListChannelsResponse): tsChannels.ListChannelsResponse {
  return {
    channels: message.channels.map((channel) => ({
      id: channel.id,
      name: channel.name,
      canPublish: channel.canPublish,
      canSubscribe: channel.canSubscribe,
      canPublishData: channel.canPublishData,
    })),
  };
}

export function getChannelTokenResponse(message: esChannels.GetChannelTokenResponse): tsChannels.GetChannelTokenResponse {
  return {
    token: message.token,
    livekitUrl: message.livekitUrl,
    room: message.room,
    identity: message.identity,
    expiresAt: date(message.expiresAt),
  };
}

export function awaitLoginResponse(message: es.AwaitLoginResponse): ts.AwaitLoginResponse {
  const event = message.event;
  switch (event.case) {
    case 'pending':
      return { event: { $case: 'pending', value: { expiresAt: date(event.value.expiresAt) } } };
    case 'heartbeat':
      return { event: { $case: 'heartbeat', value: { serverTime: date(event.value.serverTime) } } };
    case 'browserOpened':
      return { event: { $case: 'browserOpened', value: { openedAt: date(event.value.openedAt) } } };
    case 'completed':
      return { event: { $case: 'completed', value: { session: session(event.value.session) } } };
    case 'failed':
      return {
        event: { $case: 'failed', value: { reason: event.value.reason as number as ts.LoginFailureReason, message: event.value.message } },
      };
    default:
      return { event: undefined }; // an event this client does not know yet
  }
}
