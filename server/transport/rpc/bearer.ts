// The bearer check of every guarded call, on either transport: reads the
// authorization header's values, has the authenticator verify the token
// (our keys only, session alive) and returns the identity it proves.
// Failures are UnauthenticatedError with a reason; messages never contain
// the token.
import { UnauthenticatedError } from '../../errors.ts';
import type { Authenticator } from '../../sessions/authenticator.ts';
import type { Identity } from './call-context.ts';
import type { MethodAccess } from './method-policy.ts';

export interface BearerCheckOptions {
  authenticator: Authenticator;
  /** Longest authorization value accepted, in bytes (settings.maxMetadataBytes). */
  maxAuthorizationBytes: number;
}

/** `values`: every authorization header of the call (none, one, or several). */
export async function authenticateBearer(
  values: ReadonlyArray<string | Uint8Array>,
  access: Exclude<MethodAccess, 'public'>,
  options: BearerCheckOptions,
): Promise<Identity | undefined> {
  if (values.length === 0) {
    if (access === 'optional-bearer') return undefined;
    throw new UnauthenticatedError('TOKEN_MISSING', 'this call needs an access token: send "authorization: Bearer <access token>"');
  }
  let size = 0;
  for (const value of values) size += typeof value === 'string' ? Buffer.byteLength(value) : value.length;
  if (size > options.maxAuthorizationBytes) {
    throw new UnauthenticatedError('TOKEN_INVALID', `the authorization metadata is larger than ${options.maxAuthorizationBytes} bytes`);
  }
  if (values.length > 1) throw new UnauthenticatedError('TOKEN_INVALID', 'send exactly one authorization header');
  // No Bearer credential at all (another scheme, or nothing after "Bearer")
  // is TOKEN_MISSING: the client should attach its access token. A Bearer
  // value that is not a single token is TOKEN_INVALID.
  const first = values[0]!;
  const value = (typeof first === 'string' ? first : Buffer.from(first).toString('utf8')).trim();
  const scheme = /^(\S+)(?:\s+(.*))?$/.exec(value);
  if (!scheme || scheme[1]!.toLowerCase() !== 'bearer') {
    throw new UnauthenticatedError(
      'TOKEN_MISSING',
      'this call needs an access token in the Bearer scheme: "authorization: Bearer <access token>"',
    );
  }
  const token = scheme[2]?.trim() ?? '';
  if (!token)
    throw new UnauthenticatedError('TOKEN_MISSING', 'the authorization header holds no access token: send "Bearer <access token>"');
  if (/\s/.test(token)) throw new UnauthenticatedError('TOKEN_INVALID', 'the authorization header must hold exactly one token');
  const verified = await options.authenticator.authenticate(token);
  return { did: verified.did, handle: verified.handle, sessionId: verified.sessionId, expiresAt: verified.expiresAt };
}
