import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// A login carries what its session needs from InitiateLogin to the callback:
// the W3C traceparent of the InitiateLogin call (when tracing is on), so the
// callback and the completed event join its trace, and the client label the
// app sent (or its user-agent), which its session keeps for ListSessions.
export const loginTraceAndClientLabel: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('logins').addColumn('trace_parent', 'text').execute();
    await db.schema.alterTable('logins').addColumn('client_label', 'text').execute();
    await db.schema.alterTable('sessions').addColumn('client_label', 'text').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('sessions').dropColumn('client_label').execute();
    await db.schema.alterTable('logins').dropColumn('client_label').execute();
    await db.schema.alterTable('logins').dropColumn('trace_parent').execute();
  },
};
