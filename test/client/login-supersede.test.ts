// The login semantics a retrying user needs (issue 16), against a real
// Airlock server and a real local PDS:
// - a new startLogin ends one stuck on a slow PDS at once, cancelling its RPC;
// - awaiting any superseded login says so, however many logins came since;
// - login() whose browser cannot be opened leaves no login behind, here or on the server.
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LoginCancelledError, LoginSupersededError } from '../../client/errors.ts';
import { rawRequest } from '../support/consent.ts';
import { approve, rejectionOf, startLoginWorld, within, type LoginWorld } from './fixtures.ts';

let world: LoginWorld;
let stuck: net.Server;

beforeAll(async () => {
  world = await startLoginWorld({ AIRLOCK_LOGIN_RATE_PER_MINUTE: '10000' });
  stuck = net.createServer(() => {}); // accepts connections, never answers: a PDS that hangs
  await new Promise<void>((resolve) => stuck.listen(0, '127.0.0.1', resolve));
});

afterEach(() => world.closeClients());

afterAll(async () => {
  stuck?.close();
  await world?.stop();
});

describe('startLogin supersedes at once', () => {
  it('a new startLogin ends one stuck on a slow PDS at once (its RPC cancelled) and completes', async () => {
    const client = world.newClient();
    const did = await world.pds.createDidPointingAt(`http://127.0.0.1:${(stuck.address() as net.AddressInfo).port}`);
    const account = await world.pds.createAccount();
    const stuckStart = rejectionOf(client.startLogin(world.serverUrl, did));
    // Let the stuck InitiateLogin reach the server.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const began = performance.now();
    const retry = client.startLogin(world.serverUrl, account.handle);
    // Without the fix, the stuck call runs to its own timeout and fails with that, not as superseded.
    expect(await stuckStart).toBeInstanceOf(LoginSupersededError);
    const started = await within(retry, 8_000, 'the retry behind a stuck startLogin');
    console.log(`retry behind a stuck PDS returned after ${Math.round(performance.now() - began)} ms`);
    expect(client.currentLogin?.loginId).toBe(started.loginId);
    const done = client.awaitLogin(started.loginId);
    await approve(started.authorizeUrl, account);
    expect((await done).did).toBe(account.did);
  });

  it('awaitLogin of a superseded login says superseded, however many logins came since', async () => {
    const client = world.newClient();
    const account = await world.pds.createAccount();
    const first = await client.startLogin(world.serverUrl, account.handle);
    for (let i = 0; i < 40; i++) await client.startLogin(world.serverUrl, account.handle);
    const error = await rejectionOf(client.awaitLogin(first.loginId));
    expect(error).toBeInstanceOf(LoginSupersededError);
    expect((error as LoginSupersededError).loginId).toBe(first.loginId);
  });
});

describe('followLogin', () => {
  it('iterates over the progress of a login and ends with the session', async () => {
    const client = world.newClient();
    const account = await world.pds.createAccount();
    const started = await client.startLogin(world.serverUrl, account.handle);
    const types: string[] = [];
    for await (const event of client.followLogin(started.loginId)) {
      types.push(event.type);
      if (event.type === 'pending') await approve(started.authorizeUrl, account);
      if (event.type === 'signed-in') expect(event.session.did).toBe(account.did);
    }
    expect(types[0]).toBe('pending');
    expect(types.at(-1)).toBe('signed-in');
    expect((await client.getSession())?.did).toBe(account.did);
  });

  it('a superseded login throws from the loop', async () => {
    const client = world.newClient();
    const account = await world.pds.createAccount();
    const started = await client.startLogin(world.serverUrl, account.handle);
    const loop = (async () => {
      for await (const event of client.followLogin(started.loginId)) {
        if (event.type === 'pending') void client.startLogin(world.serverUrl, account.handle).catch(() => {});
      }
    })();
    expect(await rejectionOf(loop)).toBeInstanceOf(LoginSupersededError);
  });
});

describe('login() and the browser', () => {
  it('when opening the browser fails, the attempt is cleared here and cancelled on the server', async () => {
    const client = world.newClient();
    const account = await world.pds.createAccount();
    let authorizeUrl = '';
    let loginId = '';
    const failure = await rejectionOf(
      client.login(account.handle, {
        openUrl: (url, started) => {
          authorizeUrl = url;
          loginId = started.loginId;
          throw new Error('no browser here');
        },
      }),
    );
    expect((failure as Error).message).toBe('no browser here');
    expect(client.currentLogin).toBeUndefined();
    expect(await rejectionOf(client.awaitLogin(loginId))).toBeInstanceOf(LoginCancelledError);
    // The link, opened later by hand, says the sign-in was cancelled in the app.
    const page = await rawRequest(authorizeUrl);
    expect(page.status).toBe(410);
    expect(page.body).toContain('cancelled in the app');
  });
});
