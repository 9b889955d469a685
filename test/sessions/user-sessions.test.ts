// ListSessions and RevokeSession with real logins: a user sees their own
// live sessions (the current one marked) and signs their other devices out;
// another user's session id is NOT_FOUND and stays alive; no bearer, no list.
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { loginViaApi } from '../support/login.ts';
import { startPds, type TestPds } from '../support/pds.ts';

let pds: TestPds;
let server: InProcessAirlock;
let clients: ReturnType<typeof clientsFor>;

beforeAll(async () => {
  pds = await startPds();
  server = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_LOGIN_RATE_PER_MINUTE: '1000' });
  clients = clientsFor(server.grpcTarget);
});

afterAll(async () => {
  clients?.close();
  await server?.close();
  await pds?.stop();
});

const list = (bearer: string) => call(clients.auth, clients.auth.listSessions, {}, { bearer });
const revoke = (bearer: string, sessionId: string) => call(clients.auth, clients.auth.revokeSession, { sessionId }, { bearer });
const whoAmI = (bearer: string) => call(clients.auth, clients.auth.whoAmI, {}, { bearer });

describe("a user's own sessions", () => {
  it("lists this user's live sessions with the current one marked, and signs the other devices out", async () => {
    const alice = await pds.createAccount();
    const bob = await pds.createAccount();
    const laptop = await loginViaApi(server, alice);
    const phone = await loginViaApi(server, alice);
    const tablet = await loginViaApi(server, alice);
    const bobs = await loginViaApi(server, bob);

    const seen = (await list(laptop.accessToken)).sessions;
    expect(seen.map((s) => s.sessionId).sort()).toEqual([laptop.sessionId, phone.sessionId, tablet.sessionId].sort());
    expect(seen.filter((s) => s.current).map((s) => s.sessionId)).toEqual([laptop.sessionId]);
    for (const s of seen) {
      expect(s.handle).toBe(alice.handle);
      expect(s.createdAt).toBeInstanceOf(Date);
      expect(s.lastUsedAt!.getTime()).toBeGreaterThanOrEqual(s.createdAt!.getTime());
      expect(s.expiresAt!.getTime()).toBeGreaterThan(Date.now());
    }
    // Newest first.
    expect(seen.map((s) => s.createdAt!.getTime())).toEqual([...seen.map((s) => s.createdAt!.getTime())].sort((a, b) => b - a));

    // Another user's session id is NOT_FOUND, and that session lives on.
    const foreign = await grpcFailure(revoke(laptop.accessToken, bobs.sessionId));
    expect(foreign.code).toBe(status.NOT_FOUND);
    expect((await whoAmI(bobs.accessToken)).sessionId).toBe(bobs.sessionId);
    expect((await list(bobs.accessToken)).sessions.map((s) => s.sessionId)).toEqual([bobs.sessionId]);

    // "Sign out my other devices".
    for (const other of seen.filter((s) => !s.current)) await revoke(laptop.accessToken, other.sessionId);
    expect((await list(laptop.accessToken)).sessions.map((s) => s.sessionId)).toEqual([laptop.sessionId]);
    const revokedCall = await grpcFailure(whoAmI(phone.accessToken));
    expect(revokedCall.code).toBe(status.UNAUTHENTICATED);
    expect(revokedCall.reason).toBe('SESSION_REVOKED');
    const refresh = await grpcFailure(call(clients.auth, clients.auth.refreshSession, { refreshToken: tablet.refreshToken }));
    expect(refresh.code).toBe(status.UNAUTHENTICATED);

    // Revoking an ended session again, or an unknown id, is NOT_FOUND; an empty one INVALID_ARGUMENT.
    expect((await grpcFailure(revoke(laptop.accessToken, phone.sessionId))).code).toBe(status.NOT_FOUND);
    expect((await grpcFailure(revoke(laptop.accessToken, 'no-such-session'))).code).toBe(status.NOT_FOUND);
    expect((await grpcFailure(revoke(laptop.accessToken, ''))).code).toBe(status.INVALID_ARGUMENT);
  });

  it('needs a bearer access token', async () => {
    const failure = await grpcFailure(call(clients.auth, clients.auth.listSessions, {}));
    expect(failure.code).toBe(status.UNAUTHENTICATED);
    expect((await grpcFailure(call(clients.auth, clients.auth.revokeSession, { sessionId: 'x' }))).code).toBe(status.UNAUTHENTICATED);
  });
});
