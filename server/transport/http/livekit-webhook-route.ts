// POST /livekit/webhook: LiveKit's participant_joined and participant_left
// events, signed with the LiveKit API key and secret (verified by the SDK's
// WebhookReceiver in channels/presence.ts). An unsigned or forged webhook is
// answered 401, a malformed or stale one 400; neither changes anything.
import { type RoomPresence, WebhookRejectedError } from '../../channels/presence.ts';
import type { Route } from './server.ts';

export const LIVEKIT_WEBHOOK_PATH = '/livekit/webhook';

export function livekitWebhookRoute(presence: RoomPresence, options: { maxBodyBytes: number }): Route {
  const text = (status: number, body: string) => ({ status, headers: { 'content-type': 'text/plain; charset=utf-8' }, body });
  return {
    method: 'POST',
    path: LIVEKIT_WEBHOOK_PATH,
    maxBodyBytes: options.maxBodyBytes,
    async handle(request) {
      const authorization = request.headers.authorization;
      try {
        await presence.receiveWebhook((request.body ?? Buffer.alloc(0)).toString('utf8'), authorization);
      } catch (error) {
        if (error instanceof WebhookRejectedError) return text(error.kind === 'unauthenticated' ? 401 : 400, error.message);
        throw error;
      }
      return text(200, 'ok');
    },
  };
}
