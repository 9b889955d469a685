// Revocation reaches the room. LiveKit tells Airlock who joined and left
// (signed webhooks); Airlock records it in the shared database, so whichever
// replica revokes a session, or notices one expired, can remove its
// participants through LiveKit's server API:
// - a session revoked here (logout, refresh-token reuse, upstream
//   revocation): evictSession(), called by the session capability at once;
// - a join by a session that is already revoked or expired, or by a DID the
//   catalog no longer admits: removed as soon as its webhook arrives;
// - sessions that expired (or were revoked where no hook ran): the periodic
//   check, every presenceCheckInterval on every replica;
// - a catalog that no longer admits a participant, or grants less:
//   enforceCatalog(), at start and when the catalog is replaced.
// Rows are deleted only once LiveKit confirmed the participant is gone, so a
// LiveKit that did not answer is tried again by the next check.
import type { Kysely, Selectable } from 'kysely';
import { WebhookReceiver, type WebhookEvent } from 'livekit-server-sdk';
import type { Logger } from '../observability/logger.ts';
import type { Database, LiveKitParticipantsTable } from '../storage/schema.ts';
import type { ChannelCatalog, MediaPermissions } from './catalog.ts';
import { mayJoin } from './join-policy.ts';
import { ATTRIBUTE } from './livekit-tokens.ts';
import type { RoomControl } from './livekit-rooms.ts';

type Row = Selectable<LiveKitParticipantsTable>;

/** A webhook Airlock will not act on; `kind` picks the HTTP status (401 or 400). */
export class WebhookRejectedError extends Error {
  readonly kind: 'unauthenticated' | 'invalid';
  constructor(kind: 'unauthenticated' | 'invalid', message: string) {
    super(message);
    this.name = 'WebhookRejectedError';
    this.kind = kind;
  }
}

export interface PresenceOptions {
  db: Kysely<Database>;
  rooms: RoomControl;
  catalog: () => ChannelCatalog;
  apiKey: string;
  apiSecret: string;
  webhookMaxAgeMs: number;
  checkIntervalMs: number;
  logger: Logger;
  now?: () => number;
}

export class RoomPresence {
  readonly #db: Kysely<Database>;
  readonly #rooms: RoomControl;
  readonly #catalog: () => ChannelCatalog;
  readonly #receiver: WebhookReceiver;
  readonly #maxAgeMs: number;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  /** A catalog decision LiveKit did not confirm: the next check enforces the catalog again. */
  #catalogPending = false;

  constructor(options: PresenceOptions) {
    this.#db = options.db;
    this.#rooms = options.rooms;
    this.#catalog = options.catalog;
    this.#receiver = new WebhookReceiver(options.apiKey, options.apiSecret);
    this.#maxAgeMs = options.webhookMaxAgeMs;
    this.#intervalMs = options.checkIntervalMs;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  /** Verifies a LiveKit webhook (signature and body hash, with the LiveKit API secret) and records it. */
  async receiveWebhook(body: string, authorization: string | undefined): Promise<void> {
    if (!authorization) throw new WebhookRejectedError('unauthenticated', 'the webhook is not signed (no Authorization header)');
    let event: WebhookEvent;
    try {
      event = await this.#receiver.receive(body, authorization);
    } catch (error) {
      // The SDK's message says what failed (signature, issuer, expiry, body hash); it never contains the token.
      const reason = error instanceof Error ? error.message.split('\n')[0]!.slice(0, 200) : 'invalid';
      throw new WebhookRejectedError('unauthenticated', `the webhook signature does not verify: ${reason}`);
    }
    const createdMs = Number(event.createdAt) * 1000;
    if (createdMs > 0 && this.#now() - createdMs > this.#maxAgeMs) {
      throw new WebhookRejectedError('invalid', 'the webhook is too old (replayed or long delayed)');
    }
    if (event.event === 'participant_joined') await this.#joined(event);
    else if (event.event === 'participant_left') await this.#left(event);
    // Other events (room_started, track_published, …) are accepted and ignored.
  }

  async #joined(event: WebhookEvent): Promise<void> {
    const participant = event.participant;
    const room = event.room?.name;
    if (!participant || !room) throw new WebhookRejectedError('invalid', 'participant_joined without a participant or room');
    const attributes = participant.attributes ?? {};
    const sessionId = attributes[ATTRIBUTE.session];
    const did = attributes[ATTRIBUTE.did];
    const channelId = attributes[ATTRIBUTE.channel];
    // Not admitted with an Airlock token (e.g. an agent or egress): not ours to police.
    if (!sessionId || !did || !channelId) return;
    const permission = participant.permission;
    const row: Row = {
      participant_sid: participant.sid,
      room,
      identity: participant.identity,
      session_id: sessionId,
      did,
      channel_id: channelId,
      can_publish: permission?.canPublish ? 1 : 0,
      can_subscribe: permission?.canSubscribe ? 1 : 0,
      can_publish_data: permission?.canPublishData ? 1 : 0,
      joined_at: this.#now(),
    };
    await this.#db
      .insertInto('livekit_participants')
      .values(row)
      .onConflict((c) => c.column('participant_sid').doNothing())
      .execute();
    // A join by a session that is already over is removed now, not at the next check.
    const session = await this.#db
      .selectFrom('sessions')
      .select(['revoked_at', 'idle_expires_at', 'absolute_expires_at'])
      .where('id', '=', sessionId)
      .executeTakeFirst();
    const now = this.#now();
    if (!session || session.revoked_at !== null || session.idle_expires_at <= now || session.absolute_expires_at <= now) {
      await this.#remove(row, 'session not alive at join');
      return;
    }
    await this.#enforceCatalogOn(row);
  }

  async #left(event: WebhookEvent): Promise<void> {
    const sid = event.participant?.sid;
    if (!sid) throw new WebhookRejectedError('invalid', 'participant_left without a participant');
    await this.#db.deleteFrom('livekit_participants').where('participant_sid', '=', sid).execute();
  }

  /** The session was revoked: remove every participant it has, wherever they are. */
  async evictSession(sessionId: string): Promise<void> {
    const rows = await this.#db.selectFrom('livekit_participants').selectAll().where('session_id', '=', sessionId).execute();
    await Promise.all(rows.map((row) => this.#remove(row, 'session revoked')));
  }

  /** Removes participants whose session expired or was revoked. */
  async checkSessions(): Promise<void> {
    const now = this.#now();
    const rows = await this.#db
      .selectFrom('livekit_participants as p')
      .leftJoin('sessions as s', 's.id', 'p.session_id')
      .selectAll('p')
      .where((w) =>
        w.or([
          w('s.id', 'is', null),
          w('s.revoked_at', 'is not', null),
          w('s.idle_expires_at', '<=', now),
          w('s.absolute_expires_at', '<=', now),
        ]),
      )
      .execute();
    await Promise.all(rows.map((row) => this.#remove(row, 'session ended')));
  }

  /** Removes or narrows every participant the current catalog no longer admits as they are. */
  async enforceCatalog(): Promise<void> {
    const rows = await this.#db.selectFrom('livekit_participants').selectAll().execute();
    await Promise.all(rows.map((row) => this.#enforceCatalogOn(row)));
  }

  start(): void {
    if (this.#timer) return;
    const tick = () => {
      this.#checking = (async () => {
        try {
          await this.checkSessions();
          if (this.#catalogPending) {
            this.#catalogPending = false;
            await this.enforceCatalog();
          }
        } catch (error) {
          this.#logger.warn({ err: error }, 'presence check failed; trying again at the next one');
        }
      })();
      void this.#checking.finally(() => {
        this.#checking = undefined;
        if (this.#timer) this.#timer = setTimeout(tick, this.#intervalMs).unref();
      });
    };
    this.#timer = setTimeout(tick, 0).unref();
    void this.enforceCatalog().catch((error: unknown) =>
      this.#logger.warn({ err: error }, 'could not enforce the channel catalog on connected participants'),
    );
  }

  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#checking;
  }

  async #enforceCatalogOn(row: Row): Promise<void> {
    const channel = this.#catalog().find(row.channel_id);
    if (!channel || channel.room !== row.room || !mayJoin(channel, row.did)) {
      if (!(await this.#remove(row, 'channel no longer admits the participant'))) this.#catalogPending = true;
      return;
    }
    const wanted = channel.permissions;
    const has: MediaPermissions = {
      publish: row.can_publish === 1,
      subscribe: row.can_subscribe === 1,
      publishData: row.can_publish_data === 1,
    };
    const narrower = (has.publish && !wanted.publish) || (has.subscribe && !wanted.subscribe) || (has.publishData && !wanted.publishData);
    if (!narrower) return;
    try {
      const outcome = await this.#rooms.restrict(this.#target(row), wanted);
      if (outcome === 'gone') {
        await this.#forget(row);
        return;
      }
      await this.#db
        .updateTable('livekit_participants')
        .set({ can_publish: wanted.publish ? 1 : 0, can_subscribe: wanted.subscribe ? 1 : 0, can_publish_data: wanted.publishData ? 1 : 0 })
        .where('participant_sid', '=', row.participant_sid)
        .execute();
      this.#logger.info(
        { room: row.room, participantSid: row.participant_sid, sessionId: row.session_id, channel: row.channel_id },
        'LiveKit participant permissions narrowed to the catalog',
      );
    } catch (error) {
      this.#catalogPending = true;
      this.#logger.warn(
        { err: error, room: row.room, participantSid: row.participant_sid },
        "could not narrow a LiveKit participant's permissions; the next check tries again",
      );
    }
  }

  /** True once LiveKit confirmed the participant is gone (removed now, or already). */
  async #remove(row: Row, why: string): Promise<boolean> {
    try {
      const outcome = await this.#rooms.remove(this.#target(row));
      await this.#forget(row);
      if (outcome === 'done') {
        this.#logger.info(
          { room: row.room, participantSid: row.participant_sid, sessionId: row.session_id, channel: row.channel_id, why },
          'LiveKit participant removed',
        );
      }
      return true;
    } catch (error) {
      this.#logger.warn(
        { err: error, room: row.room, participantSid: row.participant_sid, why },
        'could not remove a LiveKit participant; the next check tries again',
      );
      return false;
    }
  }

  async #forget(row: Row): Promise<void> {
    await this.#db.deleteFrom('livekit_participants').where('participant_sid', '=', row.participant_sid).execute();
  }

  #target(row: Row) {
    return { room: row.room, identity: row.identity, sid: row.participant_sid };
  }
}
