// The session lifecycle against a real server, a real PDS and real grpc-js
// clients: rotation, reuse detection, the grace period, idle and absolute
// lifetimes, logout, and refresh tokens that are not ours, each also across
// a restart. Every session comes from a real OAuth login at the local PDS
// (test/support/login.ts), because every refresh also restores the user's
// ATProto session upstream.
import { status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { call, grpcFailure } from '../support/grpc.ts';
import { loginViaApi } from '../support/login.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';
import { bearer, restartableDeployment, type Deployment } from './support/deployment.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let pds: TestPds;
beforeAll(async () => {
  pds = await startPds();
});
afterAll(async () => {
  await pds?.stop();
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const deployment = (env: Record<string, string> = {}) => restartableDeployment({ ...pds.airlockEnv(), ...env }, cleanups);

const refresh = (d: Deployment, refreshToken: string) => call(d.clients.auth, d.clients.auth.refreshSession, { refreshToken });
const whoAmI = (d: Deployment, accessToken: string) => call(d.clients.auth, d.clients.auth.whoAmI, {}, { metadata: bearer(accessToken) });
const channelToken = (d: Deployment, accessToken: string) =>
  call(d.clients.channels, d.clients.channels.getChannelToken, { channelId: 'lobby' }, { metadata: bearer(accessToken) });

async function expectReason(promise: Promise<unknown>, reason: string) {
  const failure = await grpcFailure(promise);
  expect(failure.code).toBe(status.UNAUTHENTICATED);
  expect(failure.reason).toBe(reason);
  return failure;
}

let account: TestAccount;

/** A real login of `account` (a fresh one unless told) at the local PDS. */
async function start(d: Deployment, who?: TestAccount): Promise<Session> {
  account = who ?? (await pds.createAccount());
  return loginViaApi(d.server, account);
}

describe.each([
  { restart: false, label: '' },
  { restart: true, label: ' (across a restart)' },
])('session lifecycle$label', ({ restart }) => {
  const maybeRestart = async (d: Deployment) => {
    if (restart) await d.restart();
  };

  it('rotation: a refresh returns new tokens that work, for the same session', async () => {
    const d = await deployment();
    const first = await start(d);
    await maybeRestart(d);
    const { session } = await refresh(d, first.refreshToken);
    expect(session).toBeDefined();
    expect(session!.sessionId).toBe(first.sessionId);
    expect(session!.did).toBe(account.did);
    expect(session!.refreshToken).not.toBe(first.refreshToken);
    expect(session!.accessToken).not.toBe(first.accessToken);
    expect(session!.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await maybeRestart(d);
    expect((await whoAmI(d, session!.accessToken)).sessionId).toBe(first.sessionId);
    expect((await channelToken(d, session!.accessToken)).identity).toBe(account.did);
    const third = await refresh(d, session!.refreshToken);
    expect(third.session!.sessionId).toBe(first.sessionId);
  });

  it('reusing a rotated refresh token revokes the whole session: old and new refresh tokens and live access tokens', async () => {
    const d = await deployment();
    const first = await start(d);
    const { session: second } = await refresh(d, first.refreshToken);
    // Warm the revocation cache: these access tokens are known alive.
    await whoAmI(d, first.accessToken);
    await whoAmI(d, second!.accessToken);
    await maybeRestart(d);

    const reuse = await expectReason(refresh(d, first.refreshToken), 'SESSION_REVOKED');
    expect(reuse.details).not.toContain(first.refreshToken);
    await maybeRestart(d);
    await expectReason(refresh(d, second!.refreshToken), 'SESSION_REVOKED');
    await expectReason(refresh(d, first.refreshToken), 'SESSION_REVOKED');
    for (const accessToken of [first.accessToken, second!.accessToken]) {
      await expectReason(whoAmI(d, accessToken), 'SESSION_REVOKED');
      await expectReason(channelToken(d, accessToken), 'SESSION_REVOKED');
    }
    // Another session of the same user is untouched.
    const other = await start(d, account);
    expect((await whoAmI(d, other.accessToken)).sessionId).toBe(other.sessionId);
  });

  it('grace period off (the default): even an immediate retry with the previous token revokes the session', async () => {
    const d = await deployment();
    const first = await start(d);
    const { session: second } = await refresh(d, first.refreshToken);
    await maybeRestart(d);
    await expectReason(refresh(d, first.refreshToken), 'SESSION_REVOKED');
    await expectReason(refresh(d, second!.refreshToken), 'SESSION_REVOKED');
    await expectReason(whoAmI(d, second!.accessToken), 'SESSION_REVOKED');
  });

  it('grace period on: the immediately previous token gets the same successor again within it; once that is used, older tokens revoke', async () => {
    const d = await deployment({ AIRLOCK_REFRESH_REUSE_GRACE: '1500ms' });
    const first = await start(d);
    const { session: lost } = await refresh(d, first.refreshToken); // the response the client never saw
    await maybeRestart(d);
    const { session: retried } = await refresh(d, first.refreshToken);
    expect(retried!.sessionId).toBe(first.sessionId);
    // The very successor of the lost answer, with a fresh access token.
    expect(retried!.refreshToken).toBe(lost!.refreshToken);
    expect((await whoAmI(d, retried!.accessToken)).sessionId).toBe(first.sessionId);
    // A second retry of the same request gets it too.
    const { session: again } = await refresh(d, first.refreshToken);
    expect(again!.refreshToken).toBe(lost!.refreshToken);
    const { session: next } = await refresh(d, again!.refreshToken);
    expect((await whoAmI(d, next!.accessToken)).sessionId).toBe(first.sessionId);
    // `first` is no longer the immediately previous token: presenting it is theft.
    await expectReason(refresh(d, first.refreshToken), 'SESSION_REVOKED');
    await expectReason(refresh(d, next!.refreshToken), 'SESSION_REVOKED');
  });

  it('grace period on: once it has passed, the previous token revokes the session', async () => {
    const d = await deployment({ AIRLOCK_REFRESH_REUSE_GRACE: '300ms' });
    const first = await start(d);
    const { session: second } = await refresh(d, first.refreshToken);
    await maybeRestart(d);
    await sleep(400);
    await expectReason(refresh(d, first.refreshToken), 'SESSION_REVOKED');
    await expectReason(refresh(d, second!.refreshToken), 'SESSION_REVOKED');
  });

  it('idle lifetime: a session not refreshed in time expires (SESSION_EXPIRED), and refreshing slides it', async () => {
    const d = await deployment({ AIRLOCK_SESSION_IDLE_TTL: '1200ms', AIRLOCK_SESSION_MAX_TTL: '1h' });
    const first = await start(d);
    expect(first.refreshTokenExpiresAt!.getTime() - Date.now()).toBeLessThanOrEqual(1200);
    await sleep(700);
    const { session: second } = await refresh(d, first.refreshToken); // slides the idle end
    expect(second!.refreshTokenExpiresAt!.getTime()).toBeGreaterThan(first.refreshTokenExpiresAt!.getTime());
    await maybeRestart(d);
    await sleep(Math.max(0, second!.refreshTokenExpiresAt!.getTime() - Date.now()) + 100);
    await expectReason(refresh(d, second!.refreshToken), 'SESSION_EXPIRED');
  });

  it('absolute lifetime: however often it is refreshed, the session ends, and no access token outlives it', async () => {
    const d = await deployment({ AIRLOCK_SESSION_IDLE_TTL: '1500ms', AIRLOCK_SESSION_MAX_TTL: '3s' });
    const first = await start(d);
    const absoluteEnd = Date.now() + 3000;
    expect(first.accessTokenExpiresAt!.getTime()).toBeLessThanOrEqual(absoluteEnd);
    let current = first.refreshToken;
    await maybeRestart(d);
    for (let i = 0; i < 3; i++) {
      await sleep(700);
      const { session } = await refresh(d, current);
      expect(session!.refreshTokenExpiresAt!.getTime()).toBeLessThanOrEqual(absoluteEnd);
      expect(session!.accessTokenExpiresAt!.getTime()).toBeLessThanOrEqual(absoluteEnd);
      current = session!.refreshToken;
    }
    await sleep(Math.max(0, absoluteEnd - Date.now()) + 100);
    await expectReason(refresh(d, current), 'SESSION_EXPIRED');
  });

  it('Logout with the bearer revokes at once: the access token fails on GetChannelToken, the refresh token too', async () => {
    const d = await deployment();
    const session = await start(d);
    expect((await channelToken(d, session.accessToken)).identity).toBe(account.did); // cached as alive
    await call(d.clients.auth, d.clients.auth.logout, { refreshToken: '' }, { metadata: bearer(session.accessToken) });
    await expectReason(channelToken(d, session.accessToken), 'SESSION_REVOKED');
    await maybeRestart(d);
    await expectReason(channelToken(d, session.accessToken), 'SESSION_REVOKED');
    await expectReason(whoAmI(d, session.accessToken), 'SESSION_REVOKED');
    await expectReason(refresh(d, session.refreshToken), 'SESSION_REVOKED');
  });

  it('Logout with the refresh token (no bearer) revokes the session; repeating it is harmless', async () => {
    const d = await deployment();
    const session = await start(d);
    await whoAmI(d, session.accessToken);
    await call(d.clients.auth, d.clients.auth.logout, { refreshToken: session.refreshToken });
    await maybeRestart(d);
    await expectReason(channelToken(d, session.accessToken), 'SESSION_REVOKED');
    await expectReason(refresh(d, session.refreshToken), 'SESSION_REVOKED');
    await call(d.clients.auth, d.clients.auth.logout, { refreshToken: session.refreshToken });
    await expectReason(call(d.clients.auth, d.clients.auth.logout, { refreshToken: 'x'.repeat(43) }), 'TOKEN_INVALID');
    const empty = await grpcFailure(call(d.clients.auth, d.clients.auth.logout, { refreshToken: '' }));
    expect(empty, JSON.stringify(empty)).toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  it('garbage refresh tokens fail TOKEN_INVALID without touching the session', async () => {
    const d = await deployment();
    const session = await start(d);
    await maybeRestart(d);
    for (const garbage of [
      'x',
      'x'.repeat(43),
      session.refreshToken.slice(0, 42),
      `${session.refreshToken}A`,
      session.accessToken,
      'a'.repeat(4000),
    ]) {
      const failure = await expectReason(refresh(d, garbage), 'TOKEN_INVALID');
      expect(failure.details).not.toContain(garbage);
    }
    expect((await grpcFailure(refresh(d, ''))).code).toBe(status.INVALID_ARGUMENT);
    expect((await refresh(d, session.refreshToken)).session!.sessionId).toBe(session.sessionId);
  });

  it('tokens of another deployment (another data directory and signing key) fail', async () => {
    const ours = await deployment();
    const theirs = await deployment();
    const foreign = await start(theirs);
    const mine = await start(ours);
    await maybeRestart(ours);
    await expectReason(refresh(ours, foreign.refreshToken), 'TOKEN_INVALID');
    await expectReason(whoAmI(ours, foreign.accessToken), 'TOKEN_INVALID');
    await expectReason(channelToken(ours, foreign.accessToken), 'TOKEN_INVALID');
    await expectReason(call(ours.clients.auth, ours.clients.auth.logout, { refreshToken: foreign.refreshToken }), 'TOKEN_INVALID');
    // Both deployments still work for their own sessions.
    expect((await refresh(ours, mine.refreshToken)).session!.sessionId).toBe(mine.sessionId);
    expect((await refresh(theirs, foreign.refreshToken)).session!.sessionId).toBe(foreign.sessionId);
  });
});

describe('concurrent refreshes', () => {
  it('with one refresh token, exactly one wins the rotation; the others are reuse and revoke the session', async () => {
    const d = await deployment();
    const session = await start(d);
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => refresh(d, session.refreshToken)));
    const winners = results.filter((r) => r.status === 'fulfilled');
    expect(winners).toHaveLength(1);
    for (const loser of results.filter((r) => r.status === 'rejected')) {
      await expectReason(Promise.reject((loser as PromiseRejectedResult).reason), 'SESSION_REVOKED');
    }
    const rows = await d.server.database.db.selectFrom('refresh_tokens').selectAll().where('session_id', '=', session.sessionId).execute();
    expect(rows.filter((r) => r.rotated_at !== null)).toHaveLength(1);
  });

  it('with the grace period on, concurrent retries all get the same live refresh token and the session stays alive', async () => {
    const d = await deployment({ AIRLOCK_REFRESH_REUSE_GRACE: '5s' });
    const session = await start(d);
    const results = await Promise.all(Array.from({ length: 8 }, () => refresh(d, session.refreshToken)));
    expect(new Set(results.map((r) => r.session!.refreshToken)).size).toBe(1);
    const rows = await d.server.database.db.selectFrom('refresh_tokens').selectAll().where('session_id', '=', session.sessionId).execute();
    expect(rows.filter((r) => r.rotated_at === null)).toHaveLength(1);
    expect(rows.filter((r) => r.rotated_at !== null)).toHaveLength(1);
    const { session: next } = await refresh(d, results[0]!.session!.refreshToken);
    expect((await whoAmI(d, next!.accessToken)).sessionId).toBe(session.sessionId);
  });
});
