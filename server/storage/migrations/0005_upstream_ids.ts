import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// Each Airlock session keeps its own upstream ATProto OAuth session (stored
// under "<did>#<upstream_id>"), so two devices of one user never overwrite
// or sign out each other's. NULL: a session from before, sharing the DID's.
export const upstreamIds: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('sessions').addColumn('upstream_id', 'text').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('sessions').dropColumn('upstream_id').execute();
  },
};
