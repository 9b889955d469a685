// The login broker's view of the user's authorization server, over the
// OAuth library: pushed authorization requests, callbacks, and the mapping of
// the library's errors to answers a caller can act on.
import {
  extractPdsUrl,
  OAuthCallbackError,
  OAuthResponseError,
  type NodeOAuthClient,
  type NodeSavedStateStore,
} from '@atproto/oauth-client-node';
import { InvalidArgumentError, UnavailableError } from '../errors.ts';
import type { Identifier } from '../login/identifier.ts';
import { INTERRUPTED, UpstreamDeniedError, UpstreamFailedError, type UpstreamAuthorizer } from '../login/upstream.ts';
import type { SignedInUser } from '../sessions/session-types.ts';
import { newUpstreamId, type AirlockOAuthClient } from './client.ts';
import { ForbiddenAddressError } from './guarded-fetch.ts';

/** Every error in a chain of causes, the outermost first. */
export function causesOf(error: unknown): unknown[] {
  const seen: unknown[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && !seen.includes(current) && seen.length < 20) {
    seen.push(current);
    if (current instanceof AggregateError) seen.push(...current.errors);
    current = (current as { cause?: unknown }).cause;
  }
  return seen;
}

function describe(identifier: Identifier): string {
  return identifier.kind === 'service' ? identifier.value : `${identifier.kind} ${identifier.value}`;
}

/** Turns a failed authorize() into a domain error; never leaks a token or a stack. */
export function authorizeError(error: unknown, identifier: Identifier, timeoutMs: number): Error {
  const chain = causesOf(error);
  const what = describe(identifier);
  const forbidden = chain.find((e): e is ForbiddenAddressError => e instanceof ForbiddenAddressError);
  if (forbidden)
    return new InvalidArgumentError(`${what} leads to ${forbidden.message}; such addresses are refused outside development mode`);
  // Our own store failed under the library (e.g. the database is unreachable
  // while it saves the request): that is what the caller should hear.
  const ours = chain.find((e): e is UnavailableError => e instanceof UnavailableError);
  if (ours) return ours;
  if (chain.some((e) => e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError'))) {
    return new UnavailableError(`the PDS or authorization server of ${what} did not answer within ${timeoutMs} ms`);
  }
  const codes = chain.map((e) => (e as { code?: unknown }).code).filter((c): c is string => typeof c === 'string');
  const hostUnknown = codes.includes('ENOTFOUND');
  if (!hostUnknown && chain.some((e) => e instanceof TypeError && /fetch failed/i.test(e.message))) {
    return new UnavailableError(`the PDS or authorization server of ${what} could not be reached${codes[0] ? ` (${codes[0]})` : ''}`);
  }
  const status = chain
    .map((e) => (e as { statusCode?: unknown }).statusCode ?? (e as { status?: unknown }).status)
    .find((s): s is number => typeof s === 'number');
  if (status !== undefined && status >= 500)
    return new UnavailableError(`the PDS or authorization server of ${what} answered ${status}; try again later`);
  // Identity resolution said no: the handle or DID does not exist (or its host does not).
  if (chain.some((e) => e instanceof Error && e.message.startsWith('Failed to resolve identity'))) {
    return identifier.kind === 'handle'
      ? new InvalidArgumentError(`the handle ${identifier.value} does not resolve to an account`)
      : new InvalidArgumentError(`the DID ${identifier.value} could not be resolved`);
  }
  if (hostUnknown) return new InvalidArgumentError(`${what} leads to a host name that does not exist`);
  if (identifier.kind === 'service')
    return new InvalidArgumentError(`${identifier.value} is not an ATProto PDS or entryway with OAuth support`);
  return new UnavailableError(`could not start a sign-in for ${what}: its PDS or authorization server gave an unusable answer`);
}

/** A short message safe to show for a callback that failed. */
function callbackFailure(error: unknown): Error {
  const chain = causesOf(error);
  const callbackError = chain.find((e): e is OAuthCallbackError => e instanceof OAuthCallbackError);
  const oauthError = callbackError?.params.get('error');
  if (oauthError === 'access_denied') return new UpstreamDeniedError('You declined to let the app use your account.');
  if (oauthError)
    return new UpstreamFailedError(`Your authorization server reported an error (${oauthError.replace(/[^\w.-]/g, '').slice(0, 64)}).`);
  const response = chain.find((e): e is OAuthResponseError => e instanceof OAuthResponseError);
  if (response) {
    return new UpstreamFailedError(
      `Your authorization server refused the sign-in (${(response.error ?? String(response.status)).replace(/[^\w.-]/g, '').slice(0, 64)}).`,
    );
  }
  if (
    chain.some((e) => e instanceof TypeError && /fetch failed/i.test(e.message)) ||
    chain.some((e) => e instanceof Error && e.name === 'TimeoutError')
  ) {
    return new UpstreamFailedError('Your authorization server could not be reached to finish the sign-in. Start again from the app.');
  }
  // Our database failed after the code was spent: this sign-in cannot be resumed.
  if (chain.some((e) => e instanceof UnavailableError)) return new UpstreamFailedError(INTERRUPTED);
  return new UpstreamFailedError('The sign-in could not be completed.');
}

export function upstreamAuthorizer(oauth: AirlockOAuthClient, options: { timeoutMs: number }): UpstreamAuthorizer {
  const client: NodeOAuthClient = oauth.client;
  return {
    async authorize(identifier, loginRef, signal) {
      try {
        return await client.authorize(identifier.value, { signal, state: loginRef });
      } catch (error) {
        throw authorizeError(error, identifier, options.timeoutMs);
      }
    },

    async requestOf(params) {
      const state = params.get('state');
      if (!state || state.length > 512) return undefined;
      return oauth.states.requestOf(state);
    },

    async discard(params) {
      const state = params.get('state');
      if (state) await oauth.states.del(state);
    },

    async complete(params): Promise<SignedInUser> {
      let did: string;
      let pdsUrl: string;
      // This login's own upstream session: concurrent logins of one user never share or revoke it.
      const upstreamId = newUpstreamId();
      // Until the library consumes the request, a fault spends nothing (the
      // code is exchanged only after that), so the callback can be retried.
      let consumed = false;
      const states: NodeSavedStateStore = {
        get: (key) => oauth.states.get(key),
        set: (key, value) => oauth.states.set(key, value),
        del: async (key) => {
          await oauth.states.del(key);
          consumed = true;
        },
      };
      try {
        const { session } = await oauth.forSession(upstreamId, states).callback(params);
        did = session.did;
        const info = await session.getTokenInfo(false);
        pdsUrl = info.aud;
      } catch (error) {
        const fault = causesOf(error).find((e): e is UnavailableError => e instanceof UnavailableError);
        if (fault && !consumed) throw new UnavailableError(fault.message);
        throw callbackFailure(error);
      }
      // The handle is for display only: a failure to resolve it never fails the login.
      let handle = 'handle.invalid';
      try {
        const identity = await client.identityResolver.resolve(did);
        handle = identity.handle;
        if (!pdsUrl) pdsUrl = extractPdsUrl(identity.didDoc).href;
      } catch {
        /* keep handle.invalid */
      }
      return { did, handle, pdsUrl, upstreamId };
    },

    async sweep() {
      await oauth.states.sweep();
    },
  };
}
