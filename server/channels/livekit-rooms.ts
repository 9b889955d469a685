// The LiveKit server API Airlock uses to enforce its decisions in rooms:
// remove a participant, or narrow their permissions. An adapter over
// livekit-server-sdk's RoomServiceClient (Twirp over HTTP to LiveKit, not one
// of our transports). Every call names the participant by room and identity
// and acts only when the connected participant is still the one Airlock saw
// (same sid): with one identity per DID, a newer device must not be removed
// for an older session's revocation.
import { RoomServiceClient, ServerError } from 'livekit-server-sdk';
import { metrics } from '../observability/metrics.ts';
import type { MediaPermissions } from './catalog.ts';

export interface ConnectedParticipant {
  room: string;
  identity: string;
  sid: string;
}

export type Outcome = 'done' | 'gone';

export interface RoomControl {
  remove(participant: ConnectedParticipant): Promise<Outcome>;
  restrict(participant: ConnectedParticipant, permissions: MediaPermissions): Promise<Outcome>;
}

export interface LiveKitApiConfig {
  /** The LiveKit URL (ws/wss or http/https); the server API is its http(s) form. */
  url: string;
  apiKey: string;
  apiSecret: string;
  /** Per call, in milliseconds. */
  timeoutMs: number;
}

export function liveKitRooms(config: LiveKitApiConfig): RoomControl {
  const host = config.url.replace(/^ws(s?):/, 'http$1:');
  const client = new RoomServiceClient(host, config.apiKey, config.apiSecret, {
    requestTimeout: Math.max(1, Math.ceil(config.timeoutMs / 1000)),
  });

  // Every room-service call is counted by operation; an answer (even "not found") is not a failure.
  async function counted<T>(operation: string, send: () => Promise<T>): Promise<T> {
    metrics.livekitCalls.inc({ operation });
    try {
      return await send();
    } catch (error) {
      if (!isNotFound(error)) metrics.livekitCallFailures.inc({ operation });
      throw error;
    }
  }

  // The participant currently holding the identity, when it is the one we mean.
  async function current(participant: ConnectedParticipant): Promise<boolean> {
    try {
      const info = await counted('get_participant', () => client.getParticipant(participant.room, participant.identity));
      return info.sid === participant.sid;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  return {
    async remove(participant) {
      if (!(await current(participant))) return 'gone';
      try {
        await counted('remove_participant', () => client.removeParticipant(participant.room, participant.identity));
        return 'done';
      } catch (error) {
        if (isNotFound(error)) return 'gone';
        throw error;
      }
    },
    async restrict(participant, permissions) {
      if (!(await current(participant))) return 'gone';
      try {
        await counted('update_participant', () =>
          client.updateParticipant(participant.room, participant.identity, {
            permission: {
              canPublish: permissions.publish,
              canSubscribe: permissions.subscribe,
              canPublishData: permissions.publishData,
              canUpdateMetadata: false,
            },
          }),
        );
        return 'done';
      } catch (error) {
        if (isNotFound(error)) return 'gone';
        throw error;
      }
    },
  };
}

function isNotFound(error: unknown): boolean {
  return error instanceof ServerError && (error.status === 404 || error.code === 'not_found');
}
