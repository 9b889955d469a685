import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// How many pushed authorization requests the login link made for a login
// after InitiateLogin's, so visits cannot make the server push them without
// end (AIRLOCK_MAX_PAR_RENEWALS).
export const parRenewals: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('logins')
      .addColumn('par_renewals', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('logins').dropColumn('par_renewals').execute();
  },
};
