import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// Who is connected to LiveKit through an Airlock token, from LiveKit's
// participant_joined and participant_left webhooks. Kept in the shared
// database so the replica that revokes a session (or any replica sweeping
// expired ones) knows which participants to remove.
export const livekitPresence: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('livekit_participants')
      .addColumn('participant_sid', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('room', 'varchar(128)', (c) => c.notNull())
      .addColumn('identity', 'text', (c) => c.notNull())
      .addColumn('session_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('did', 'text', (c) => c.notNull())
      .addColumn('channel_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('can_publish', 'integer', (c) => c.notNull())
      .addColumn('can_subscribe', 'integer', (c) => c.notNull())
      .addColumn('can_publish_data', 'integer', (c) => c.notNull())
      .addColumn('joined_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('livekit_participants_session').on('livekit_participants').column('session_id').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('livekit_participants').ifExists().execute();
  },
};
