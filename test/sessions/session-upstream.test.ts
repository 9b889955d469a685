// The Airlock session and the user's ATProto session at their PDS, end to
// end with a real PDS and real logins: revoking Airlock at the PDS ends the
// Airlock session at its next refresh, and Logout signs out upstream.
import { status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { call, grpcFailure } from '../support/grpc.ts';
import { loginViaApi } from '../support/login.ts';
import { startPds, type TestPds } from '../support/pds.ts';
import { oauthSessionsAtPds, revokeAppsAtPds } from './support/pds-account.ts';
import { bearer, restartableDeployment } from './support/deployment.ts';

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

const deployment = (network: TestPds = pds) => restartableDeployment(network.airlockEnv(), cleanups);

async function expectReason(promise: Promise<unknown>, reason: string) {
  const failure = await grpcFailure(promise);
  expect(failure).toMatchObject({ code: status.UNAUTHENTICATED, reason });
}

describe.each([
  { restart: false, label: '' },
  { restart: true, label: ' (across a restart)' },
])('upstream ATProto session$label', ({ restart }) => {
  it('after the user revokes Airlock at their PDS, refresh fails SESSION_REVOKED and the access token dies', async () => {
    const d = await deployment();
    const account = await pds.createAccount();
    const session = await loginViaApi(d.server, account);
    const { session: refreshed } = await call(d.clients.auth, d.clients.auth.refreshSession, { refreshToken: session.refreshToken });
    expect(await revokeAppsAtPds(pds.url, account)).toBeGreaterThan(0);
    if (restart) await d.restart();
    await expectReason(call(d.clients.auth, d.clients.auth.refreshSession, { refreshToken: refreshed!.refreshToken }), 'SESSION_REVOKED');
    await expectReason(
      call(d.clients.channels, d.clients.channels.getChannelToken, { channelId: 'lobby' }, { metadata: bearer(refreshed!.accessToken) }),
      'SESSION_REVOKED',
    );
  });

  it('Logout revokes the session and signs the ATProto session out at the PDS', async () => {
    const d = await deployment();
    const account = await pds.createAccount();
    const session = await loginViaApi(d.server, account);
    expect(await oauthSessionsAtPds(pds.url, account)).toHaveLength(1);
    expect(
      (
        await call(
          d.clients.channels,
          d.clients.channels.getChannelToken,
          { channelId: 'lobby' },
          { metadata: bearer(session.accessToken) },
        )
      ).identity,
    ).toBe(account.did);
    await call(d.clients.auth, d.clients.auth.logout, { refreshToken: '' }, { metadata: bearer(session.accessToken) });
    await expectReason(
      call(d.clients.channels, d.clients.channels.getChannelToken, { channelId: 'lobby' }, { metadata: bearer(session.accessToken) }),
      'SESSION_REVOKED',
    );
    expect(await oauthSessionsAtPds(pds.url, account)).toHaveLength(0);
    if (restart) await d.restart();
    await expectReason(
      call(d.clients.channels, d.clients.channels.getChannelToken, { channelId: 'lobby' }, { metadata: bearer(session.accessToken) }),
      'SESSION_REVOKED',
    );
    await expectReason(call(d.clients.auth, d.clients.auth.refreshSession, { refreshToken: session.refreshToken }), 'SESSION_REVOKED');
  });

  it('reuse of a rotated refresh token also signs the ATProto session out', async () => {
    const d = await deployment();
    const account = await pds.createAccount();
    const session = await loginViaApi(d.server, account);
    await call(d.clients.auth, d.clients.auth.refreshSession, { refreshToken: session.refreshToken });
    if (restart) await d.restart();
    await expectReason(call(d.clients.auth, d.clients.auth.refreshSession, { refreshToken: session.refreshToken }), 'SESSION_REVOKED');
    expect(await oauthSessionsAtPds(pds.url, account)).toHaveLength(0);
  });
});

describe('upstream faults', () => {
  it('a PDS that cannot be reached makes refresh UNAVAILABLE and signs no one out', async () => {
    const doomed = await startPds();
    try {
      const d = await deployment(doomed);
      const account = await doomed.createAccount();
      const session = await loginViaApi(d.server, account);
      await doomed.stop();
      const failure = await grpcFailure(call(d.clients.auth, d.clients.auth.refreshSession, { refreshToken: session.refreshToken }));
      expect(failure.code).toBe(status.UNAVAILABLE);
      expect(failure.details).not.toContain(session.refreshToken);
      // Nothing was revoked or rotated: the same tokens still work.
      expect((await call(d.clients.auth, d.clients.auth.whoAmI, {}, { metadata: bearer(session.accessToken) })).sessionId).toBe(
        session.sessionId,
      );
      const row = await d.server.database.db
        .selectFrom('sessions')
        .selectAll()
        .where('id', '=', session.sessionId)
        .executeTakeFirstOrThrow();
      expect(row.revoked_at).toBeNull();
      const tokens = await d.server.database.db
        .selectFrom('refresh_tokens')
        .selectAll()
        .where('session_id', '=', session.sessionId)
        .execute();
      expect(tokens.map((t) => t.rotated_at)).toEqual([null]);
    } finally {
      await doomed.stop();
    }
  });
});
