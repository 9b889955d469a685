// Which RPCs need a bearer access token: the one place that says so, for
// the gRPC server and the Connect / gRPC-Web handler alike. Every
// method of every service in proto/gen/descriptor.binpb is listed (a test
// fails otherwise); a method missing here is treated as 'bearer' (closed).
//
// - public: never authenticated; an authorization header is ignored.
// - bearer: a valid access token of a live session is required.
// - optional-bearer: without an authorization header the call goes through
//   without an identity; with one, the token must verify exactly as for
//   'bearer' (a bad token is never silently ignored). Logout uses it: the
//   session is named by the bearer or, without one, by the refresh token.
export type MethodAccess = 'public' | 'bearer' | 'optional-bearer';

export const METHOD_POLICY: Readonly<Record<string, MethodAccess>> = {
  '/airlock.auth.v1.AuthService/InitiateLogin': 'public',
  '/airlock.auth.v1.AuthService/AwaitLogin': 'public',
  '/airlock.auth.v1.AuthService/CancelLogin': 'public',
  '/airlock.auth.v1.AuthService/RefreshSession': 'public',
  '/airlock.auth.v1.AuthService/Logout': 'optional-bearer',
  '/airlock.auth.v1.AuthService/WhoAmI': 'bearer',
  '/airlock.auth.v1.AuthService/ListSessions': 'bearer',
  '/airlock.auth.v1.AuthService/RevokeSession': 'bearer',

  '/airlock.channels.v1.ChannelsService/ListChannels': 'bearer',
  '/airlock.channels.v1.ChannelsService/GetChannelToken': 'bearer',

  '/grpc.health.v1.Health/Check': 'public',
  '/grpc.health.v1.Health/List': 'public',
  '/grpc.health.v1.Health/Watch': 'public',
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo': 'public',
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo': 'public',
};

/** The access rule of a method path ("/package.Service/Method"); unknown paths need a bearer. */
export function accessOf(path: string): MethodAccess {
  return Object.hasOwn(METHOD_POLICY, path) ? METHOD_POLICY[path]! : 'bearer';
}
