// The bearer check of every guarded call, on either transport: reads the
// authorization header's values, has the authenticator verify the token
// (our keys only, session alive) and returns the identity it proves.
// Failures are UnauthenticatedError with a reason; messages never contain
// the token.
//
// Before it, every call (public ones too) passes the request metadata limit
// (settings.maxMetadataBytes over all headers, keys and values): on gRPC the
// metadata-limit interceptor applies it, on Connect and gRPC-Web
// checkMetadataSize below, both answering RESOURCE_EXHAUSTED with ErrorInfo
// reason METADATA_TOO_LARGE.
import { ResourceExhaustedError, UnauthenticatedError } from '../../errors.ts';
import type { Authenticator } from '../../sessions/authenticator.ts';
import type { Identity } from './call-context.ts';
import type { MethodAccess } from './method-policy.ts';

export interface BearerCheckOptions {
  authenticator: Authenticator;
}

export const METADATA_TOO_LARGE = 'METADATA_TOO_LARGE';

/** A call whose request headers exceed the metadata limit (RESOURCE_EXHAUSTED, reason METADATA_TOO_LARGE). */
export class MetadataTooLargeError extends ResourceExhaustedError {
  override name = 'MetadataTooLargeError';
  readonly limitBytes: number;
  constructor(size: number, limitBytes: number) {
    super(`the request metadata is ${size} bytes, more than the ${limitBytes} bytes this server accepts`);
    this.limitBytes = limitBytes;
  }
}

/** Bytes of the request headers as sent: every key and value. */
export function metadataBytes(headers: Iterable<readonly [string, string | Uint8Array]>): number {
  let size = 0;
  for (const [key, value] of headers) size += key.length + (typeof value === 'string' ? Buffer.byteLength(value) : value.length);
  return size;
}

/** Throws MetadataTooLargeError when the headers exceed `maxBytes`. */
export function checkMetadataSize(headers: Iterable<readonly [string, string | Uint8Array]>, maxBytes: number): void {
  const size = metadataBytes(headers);
  if (size > maxBytes) throw new MetadataTooLargeError(size, maxBytes);
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
  // The size was checked for all headers before (checkMetadataSize, or the
  // gRPC metadata-limit interceptor). Node's HTTP/2 layer keeps only the
  // first of several authorization fields, and the Connect handler reads one
  // header; refusing several here still holds if that ever changes.
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
