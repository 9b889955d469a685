// POST /livekit/token: LiveKit's "endpoint token generation" format, so any
// LiveKit client SDK's endpoint token source works without glue. The caller
// authenticates with an Airlock access token (Authorization: Bearer …), names
// the channel in `room_name`, and gets { server_url, participant_token }.
// The token comes from ChannelAccess.tokenFor, the same policy and minter as
// GetChannelToken. Airlock decides identity, name and attributes from the
// verified session, so a request that asks for its own (participant_*,
// room_config) is refused rather than silently ignored.
import type { ChannelAccess } from '../../channels/channel-access.ts';
import { AirlockError, UnauthenticatedError } from '../../errors.ts';
import type { Authenticator } from '../../sessions/authenticator.ts';
import type { HttpResponse, Route } from './server.ts';

export const LIVEKIT_TOKEN_PATH = '/livekit/token';

const CALLER_CHOSEN = ['participant_identity', 'participant_name', 'participant_metadata', 'participant_attributes', 'room_config'];

const STATUS: Record<AirlockError['kind'], number> = {
  'invalid-argument': 400,
  'not-found': 404,
  unauthenticated: 401,
  'permission-denied': 403,
  'resource-exhausted': 429,
  unavailable: 503,
};

function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: JSON.stringify(body) };
}

function failure(error: AirlockError): HttpResponse {
  const body = {
    error: error instanceof UnauthenticatedError ? error.reason : error.kind.toUpperCase().replace('-', '_'),
    message: error.message,
  };
  return json(STATUS[error.kind], body, error.kind === 'unauthenticated' ? { 'www-authenticate': 'Bearer' } : {});
}

const invalid = (message: string) => json(400, { error: 'INVALID_ARGUMENT', message });

export function livekitTokenRoute(deps: { authenticator: Authenticator; channels: ChannelAccess; maxBodyBytes: number }): Route {
  return {
    method: 'POST',
    path: LIVEKIT_TOKEN_PATH,
    maxBodyBytes: deps.maxBodyBytes,
    async handle(request) {
      try {
        const header = request.headers.authorization ?? '';
        const match = /^Bearer ([^\s]+)$/i.exec(header);
        if (!match)
          throw new UnauthenticatedError(
            'TOKEN_MISSING',
            'this endpoint needs an Airlock access token: Authorization: Bearer <access token>',
          );
        const caller = await deps.authenticator.authenticate(match[1]!);

        let body: unknown;
        try {
          body = JSON.parse((request.body ?? Buffer.alloc(0)).toString('utf8') || '{}');
        } catch {
          return invalid('the body must be JSON: {"room_name": "<channel id>"}');
        }
        if (typeof body !== 'object' || body === null || Array.isArray(body))
          return invalid('the body must be a JSON object: {"room_name": "<channel id>"}');
        const fields = body as Record<string, unknown>;
        for (const key of Object.keys(fields)) {
          const value = fields[key];
          const empty =
            value === undefined ||
            value === null ||
            value === '' ||
            (typeof value === 'object' && Object.keys(value as object).length === 0);
          if (CALLER_CHOSEN.includes(key)) {
            if (!empty) return invalid(`${key} is decided by Airlock from your session; leave it out`);
          } else if (key !== 'room_name') {
            return invalid(`unknown field ${JSON.stringify(key.slice(0, 40))}; send {"room_name": "<channel id>"}`);
          }
        }
        if (typeof fields.room_name !== 'string' || fields.room_name === '')
          return invalid('room_name (the Airlock channel id) is required');

        const minted = await deps.channels.tokenFor(
          { did: caller.did, handle: caller.handle, sessionId: caller.sessionId },
          fields.room_name,
        );
        return json(200, { server_url: minted.livekitUrl, participant_token: minted.token });
      } catch (error) {
        if (error instanceof AirlockError) return failure(error);
        throw error;
      }
    },
  };
}
