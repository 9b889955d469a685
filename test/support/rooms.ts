// Small helpers shared by the real-LiveKit tests: waiting for a condition,
// and joining a channel as a browser participant with a GetChannelToken token.
import { expect } from 'vitest';
import type { Session } from '../../proto/gen/airlock/auth/v1/auth.ts';
import type { GetChannelTokenResponse } from '../../proto/gen/airlock/channels/v1/channels.ts';
import type { InProcessAirlock } from './airlock.ts';
import { call, type clientsFor } from './grpc.ts';
import type { BrowserParticipant, ParticipantBrowser } from './participant.ts';

export async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function channelToken(
  clients: ReturnType<typeof clientsFor>,
  session: Session,
  channelId: string,
): Promise<GetChannelTokenResponse> {
  return call(clients.channels, clients.channels.getChannelToken, { channelId }, { bearer: session.accessToken });
}

export async function presenceRow(airlock: Pick<InProcessAirlock, 'database'>, sid: string) {
  return airlock.database.db.selectFrom('livekit_participants').selectAll().where('participant_sid', '=', sid).executeTakeFirst();
}

export interface Joined {
  participant: BrowserParticipant;
  minted: GetChannelTokenResponse;
  sid: string;
}

/** A new browser participant in `channelId`; waits until `recordedBy` holds its presence (the webhook arrived). */
export async function joinAs(
  browser: ParticipantBrowser,
  clients: ReturnType<typeof clientsFor>,
  session: Session,
  channelId: string,
  recordedBy: Pick<InProcessAirlock, 'database'>,
): Promise<Joined> {
  const minted = await channelToken(clients, session, channelId);
  const participant = await browser.newParticipant();
  const result = await participant.join(minted.livekitUrl, minted.token);
  expect(result, JSON.stringify(result)).toMatchObject({ ok: true, identity: minted.identity });
  await until(async () => (await presenceRow(recordedBy, result.sid!)) !== undefined, 'the participant_joined webhook to be recorded');
  return { participant, minted, sid: result.sid! };
}
