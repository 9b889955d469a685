import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// Every InitiateLogin counts the logins still waiting (the pending cap): with
// (status, expires_at) the count reads the index alone, not each row of every
// login that has not yet expired.
export const pendingLoginsIndex: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.createIndex('logins_status_expires_at').on('logins').columns(['status', 'expires_at']).execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropIndex('logins_status_expires_at').execute();
  },
};
