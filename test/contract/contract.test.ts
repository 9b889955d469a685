// The contract as clients depend on it: services, methods, streaming shapes,
// field numbers and enum values, read from proto/ by @grpc/proto-loader.
import path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/airlock.ts';

const PROTO_DIR = path.join(REPO_ROOT, 'proto');
const definition = protoLoader.loadSync(['airlock/auth/v1/auth.proto', 'airlock/channels/v1/channels.proto'], {
  includeDirs: [PROTO_DIR],
  keepCase: true,
});

type Service = Record<
  string,
  { requestStream: boolean; responseStream: boolean; requestType: { type: { name: string } }; responseType: { type: { name: string } } }
>;
type MessageType = {
  type: {
    field: Array<{ name: string; number: number; type: string; label: string; typeName: string; oneofIndex?: number }>;
    oneofDecl: Array<{ name: string }>;
  };
};
type EnumType = { type: { value: Array<{ name: string; number: number }> } };

const service = (name: string) => definition[name] as unknown as Service;
const message = (name: string) => definition[name] as unknown as MessageType;
const fields = (name: string) =>
  Object.fromEntries(
    message(name).type.field.map((f) => [f.name, { number: f.number, type: f.type, label: f.label, typeName: f.typeName }]),
  );
const enumValues = (name: string) =>
  Object.fromEntries((definition[name] as unknown as EnumType).type.value.map((v) => [v.name, v.number]));

describe('contract: airlock.auth.v1.AuthService', () => {
  it('has exactly the five RPCs with their streaming shapes and message types', () => {
    const auth = service('airlock.auth.v1.AuthService');
    const shape = Object.fromEntries(
      Object.entries(auth).map(([name, m]) => [
        name,
        [m.requestType.type.name, m.responseType.type.name, m.requestStream, m.responseStream],
      ]),
    );
    expect(shape).toEqual({
      InitiateLogin: ['InitiateLoginRequest', 'InitiateLoginResponse', false, false],
      AwaitLogin: ['AwaitLoginRequest', 'AwaitLoginResponse', false, true],
      CancelLogin: ['CancelLoginRequest', 'CancelLoginResponse', false, false],
      RefreshSession: ['RefreshSessionRequest', 'RefreshSessionResponse', false, false],
      Logout: ['LogoutRequest', 'LogoutResponse', false, false],
      WhoAmI: ['WhoAmIRequest', 'WhoAmIResponse', false, false],
      ListSessions: ['ListSessionsRequest', 'ListSessionsResponse', false, false],
      RevokeSession: ['RevokeSessionRequest', 'RevokeSessionResponse', false, false],
    });
  });

  it('keeps the field numbers of the login messages', () => {
    expect(fields('airlock.auth.v1.CancelLoginRequest')).toMatchObject({
      login_id: { number: 1, type: 'TYPE_STRING' },
      login_verifier: { number: 2, type: 'TYPE_STRING' },
    });
    expect(fields('airlock.auth.v1.CancelLoginResponse')).toMatchObject({ cancelled: { number: 1, type: 'TYPE_BOOL' } });
    expect(fields('airlock.auth.v1.InitiateLoginRequest')).toMatchObject({
      identifier: { number: 1, type: 'TYPE_STRING' },
      login_verifier_challenge: { number: 2, type: 'TYPE_STRING' },
    });
    expect(fields('airlock.auth.v1.InitiateLoginResponse')).toMatchObject({
      login_id: { number: 1 },
      authorize_url: { number: 2 },
      expires_at: { number: 3, typeName: 'google.protobuf.Timestamp' },
    });
    expect(fields('airlock.auth.v1.AwaitLoginRequest')).toMatchObject({ login_id: { number: 1 }, login_verifier: { number: 2 } });
  });

  it('streams login events as one oneof with five cases', () => {
    const event = message('airlock.auth.v1.AwaitLoginResponse').type;
    expect(event.oneofDecl.map((o) => o.name)).toEqual(['event']);
    expect(event.field.map((f) => [f.name, f.number, f.typeName, f.oneofIndex])).toEqual([
      ['pending', 1, 'LoginPending', 0],
      ['heartbeat', 2, 'LoginHeartbeat', 0],
      ['browser_opened', 3, 'LoginBrowserOpened', 0],
      ['completed', 4, 'LoginCompleted', 0],
      ['failed', 5, 'LoginFailed', 0],
    ]);
    expect(fields('airlock.auth.v1.LoginPending')).toMatchObject({ expires_at: { number: 1, typeName: 'google.protobuf.Timestamp' } });
    expect(fields('airlock.auth.v1.LoginCompleted')).toMatchObject({ session: { number: 1, typeName: 'Session' } });
    expect(fields('airlock.auth.v1.LoginFailed')).toMatchObject({
      reason: { number: 1, typeName: 'LoginFailureReason' },
      message: { number: 2 },
    });
  });

  it('keeps the session fields', () => {
    expect(fields('airlock.auth.v1.Session')).toMatchObject({
      access_token: { number: 1 },
      access_token_expires_at: { number: 2, typeName: 'google.protobuf.Timestamp' },
      refresh_token: { number: 3 },
      refresh_token_expires_at: { number: 4, typeName: 'google.protobuf.Timestamp' },
      did: { number: 5 },
      handle: { number: 6 },
      pds_url: { number: 7 },
      session_id: { number: 8 },
    });
    expect(fields('airlock.auth.v1.WhoAmIResponse')).toMatchObject({
      did: { number: 1 },
      handle: { number: 2 },
      session_id: { number: 3 },
      access_token_expires_at: { number: 4 },
    });
    expect(fields('airlock.auth.v1.RefreshSessionRequest')).toMatchObject({ refresh_token: { number: 1 } });
    expect(fields('airlock.auth.v1.LogoutRequest')).toMatchObject({ refresh_token: { number: 1 } });
  });

  it('keeps the enum values clients switch on', () => {
    expect(enumValues('airlock.auth.v1.LoginFailureReason')).toEqual({
      LOGIN_FAILURE_REASON_UNSPECIFIED: 0,
      LOGIN_FAILURE_REASON_ACCESS_DENIED: 1,
      LOGIN_FAILURE_REASON_EXPIRED: 2,
      LOGIN_FAILURE_REASON_ERROR: 3,
      LOGIN_FAILURE_REASON_CANCELLED: 4,
    });
    expect(enumValues('airlock.auth.v1.AuthErrorReason')).toEqual({
      AUTH_ERROR_REASON_UNSPECIFIED: 0,
      AUTH_ERROR_REASON_TOKEN_MISSING: 1,
      AUTH_ERROR_REASON_TOKEN_INVALID: 2,
      AUTH_ERROR_REASON_TOKEN_EXPIRED: 3,
      AUTH_ERROR_REASON_SESSION_REVOKED: 4,
      AUTH_ERROR_REASON_SESSION_EXPIRED: 5,
    });
  });
});

describe('contract: airlock.channels.v1.ChannelsService', () => {
  it('has ListChannels and GetChannelToken, both unary', () => {
    const channels = service('airlock.channels.v1.ChannelsService');
    expect(Object.fromEntries(Object.entries(channels).map(([n, m]) => [n, [m.requestStream, m.responseStream]]))).toEqual({
      ListChannels: [false, false],
      GetChannelToken: [false, false],
    });
  });

  it('keeps the channel and token fields', () => {
    expect(fields('airlock.channels.v1.Channel')).toMatchObject({
      id: { number: 1 },
      name: { number: 2 },
      can_publish: { number: 3, type: 'TYPE_BOOL' },
      can_subscribe: { number: 4, type: 'TYPE_BOOL' },
      can_publish_data: { number: 5, type: 'TYPE_BOOL' },
    });
    expect(fields('airlock.channels.v1.ListChannelsResponse')).toMatchObject({ channels: { number: 1, label: 'LABEL_REPEATED' } });
    expect(fields('airlock.channels.v1.GetChannelTokenRequest')).toMatchObject({ channel_id: { number: 1 } });
    expect(fields('airlock.channels.v1.GetChannelTokenResponse')).toMatchObject({
      token: { number: 1 },
      livekit_url: { number: 2 },
      room: { number: 3 },
      identity: { number: 4 },
      expires_at: { number: 5, typeName: 'google.protobuf.Timestamp' },
    });
  });
});
