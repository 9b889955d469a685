import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// A rotated refresh token keeps its successor sealed to itself, so a retry
// within the reuse grace gets the very token the first answer carried.
export const refreshSuccessor: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('refresh_tokens').addColumn('successor_sealed', 'text').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('refresh_tokens').dropColumn('successor_sealed').execute();
  },
};
