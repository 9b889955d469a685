// Ended sessions do not pile up: after sessionRetention they are deleted
// with their refresh tokens; live sessions are never touched.
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';

const USER = { did: 'did:plc:sweepsweepsweepsweepswee', handle: 'sweep.test', pdsUrl: 'http://127.0.0.1:1' };
let server: InProcessAirlock;
let clients: ReturnType<typeof clientsFor>;

beforeAll(async () => {
  server = await startInProcess({ AIRLOCK_SESSION_RETENTION: '200ms', AIRLOCK_SESSION_IDLE_TTL: '300ms' });
  clients = clientsFor(server.grpcTarget);
});
afterAll(async () => {
  clients?.close();
  await server?.close();
});

describe('session sweeping', () => {
  it('deletes sessions revoked or expired longer than the retention ago, with their tokens, and keeps the rest', async () => {
    const db = server.database.db;
    const revoked = await server.auth.sessions.start(USER);
    await call(clients.auth, clients.auth.logout, { refreshToken: revoked.refreshToken });
    const idle = await server.auth.sessions.start(USER);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const live = await server.auth.sessions.start(USER);

    // Revoked 250 ms ago (> 200 ms) goes; idle ended ~0 ms ago stays for now.
    expect(await server.auth.sessions.sweep()).toBe(1);
    const ids = (await db.selectFrom('sessions').select('id').execute()).map((r) => r.id);
    expect(ids).toEqual(expect.arrayContaining([idle.sessionId, live.sessionId]));
    expect(ids).not.toContain(revoked.sessionId);
    expect(await db.selectFrom('refresh_tokens').selectAll().where('session_id', '=', revoked.sessionId).execute()).toEqual([]);
    // A swept session's tokens are simply unknown now.
    const failure = await grpcFailure(call(clients.auth, clients.auth.refreshSession, { refreshToken: revoked.refreshToken }));
    expect(failure).toMatchObject({ code: status.UNAUTHENTICATED, reason: 'TOKEN_INVALID' });

    // Just past the idle session's end plus the retention: it goes; the live one (started 250 ms later) has not ended yet.
    const sweepAt =
      (await db.selectFrom('sessions').select('idle_expires_at').where('id', '=', idle.sessionId).executeTakeFirstOrThrow())
        .idle_expires_at +
      200 +
      1;
    expect(await server.auth.sessions.sweep(sweepAt)).toBe(1);
    expect((await db.selectFrom('sessions').select('id').execute()).map((r) => r.id)).toEqual([live.sessionId]);
    expect((await db.selectFrom('refresh_tokens').select('session_id').execute()).map((r) => r.session_id)).toEqual([live.sessionId]);
  });
});
