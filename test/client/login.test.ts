// The client's login against a real Airlock server and a real local PDS.
// These are the defects found in an earlier client of this design, each
// shown impossible here:
// - two startLogin calls both passing a check before either took the lock;
// - awaitLogin holding the lock, so a retry startLogin waited for the old
//   stream to time out;
// - logout leaving a client behind with which an old login could still be
//   awaited.
import { InterceptingCall, ListenerBuilder, RequesterBuilder, type Interceptor } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LoginProgress, StartedLogin } from '../../client/airlock-client.ts';
import { LoginCancelledError, LoginDeniedError, LoginSupersededError, UnknownLoginError } from '../../client/errors.ts';
import { MemoryStore } from '../../client/storage/memory-store.ts';
import type { StoredState } from '../../client/storage/session-store.ts';
import { consentViaApi, rawRequest } from '../support/consent.ts';
import { approve, rejectionOf, startLoginWorld, within, type LoginWorld } from './fixtures.ts';

let world: LoginWorld;

beforeAll(async () => {
  // Frequent heartbeats so a test sees them.
  world = await startLoginWorld({ AIRLOCK_HEARTBEAT_INTERVAL: '300ms' });
});

afterEach(() => world.closeClients());

afterAll(async () => {
  await world?.stop();
});

/** Records when each InitiateLogin call was sent and when its status came back. */
function initiateTimings() {
  const calls: Array<{ sentAt: number; doneAt: number }> = [];
  const interceptor: Interceptor = (options, nextCall) => {
    if (!options.method_definition.path.endsWith('/InitiateLogin')) return new InterceptingCall(nextCall(options));
    const entry = { sentAt: performance.now(), doneAt: Number.NaN };
    calls.push(entry);
    const listener = new ListenerBuilder()
      .withOnReceiveStatus((status, next) => {
        entry.doneAt = performance.now();
        next(status);
      })
      .build();
    return new InterceptingCall(
      nextCall(options),
      new RequesterBuilder().withStart((metadata, _listener, next) => next(metadata, listener)).build(),
    );
  };
  return { calls, interceptor };
}

/** Resolves when the progress callback has seen an event of this type. */
function progressRecorder() {
  const events: LoginProgress[] = [];
  const waiters: Array<{ type: LoginProgress['type']; resolve: () => void }> = [];
  return {
    events,
    onProgress(progress: LoginProgress) {
      events.push(progress);
      for (const waiter of waiters.filter((w) => w.type === progress.type)) waiter.resolve();
    },
    seen(type: LoginProgress['type']): Promise<void> {
      if (events.some((e) => e.type === type)) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ type, resolve }));
    },
  };
}

describe('login', () => {
  it('login(): opens the URL, reports progress, and stores the session before resolving', async () => {
    const order: string[] = [];
    class RecordingStore extends MemoryStore {
      override async save(state: StoredState) {
        await super.save(state);
        order.push(state.session ? 'session saved' : 'server URL saved');
      }
    }
    const store = new RecordingStore();
    const client = world.newClient({ store });
    const account = await world.pds.createAccount();
    const progress = progressRecorder();
    const opened: string[] = [];
    let loginId = '';
    let userDone: Promise<void> = Promise.resolve();
    const session = await client
      .login(account.handle, {
        openUrl: async (url, login) => {
          order.push('browser opened');
          opened.push(url);
          loginId = login.loginId;
          // The user acts in the browser while login() follows the stream.
          userDone = (async () => {
            await progress.seen('pending');
            await new Promise((resolve) => setTimeout(resolve, 700)); // long enough for a heartbeat
            await approve(url, account);
          })();
        },
        onProgress: progress.onProgress,
      })
      .then((s) => {
        order.push('resolved');
        return s;
      });
    await userDone;
    expect(order).toEqual(['server URL saved', 'browser opened', 'session saved', 'resolved']);
    expect(opened[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    expect(session).toMatchObject({ did: account.did, handle: account.handle, serverUrl: world.serverUrl });
    const types = progress.events.map((e) => e.type);
    expect(types[0]).toBe('pending');
    expect(types).toContain('heartbeat');
    expect(types).toContain('browser-opened');
    expect(await client.getSession()).toEqual(session);
    expect(client.currentLogin).toBeUndefined();
    // Awaiting a finished login again gives the stored session, without another stream.
    expect(await client.awaitLogin(loginId)).toEqual(session);
  });

  it('a denied login rejects with LoginDeniedError and stores no session', async () => {
    const client = world.newClient();
    const account = await world.pds.createAccount();
    const error = await rejectionOf(client.login(account.handle, { openUrl: (url) => approve(url, account, 'deny') }));
    expect(error).toBeInstanceOf(LoginDeniedError);
    expect(await client.getSession()).toBeUndefined();
  });

  it('awaitLogin of a login this client never started fails at once', async () => {
    const client = world.newClient();
    expect(await rejectionOf(client.awaitLogin('no-such-login'))).toBeInstanceOf(UnknownLoginError);
  });
});

describe('startLogin is one critical section', () => {
  it('two concurrent startLogin calls: the earlier rejects as superseded at once, the later one is current and completes', async () => {
    const timings = initiateTimings();
    const client = world.newClient({ connection: { channelOptions: { interceptors: [timings.interceptor] } } });
    const account = await world.pds.createAccount();
    const [first, second] = await Promise.allSettled([
      client.startLogin(world.serverUrl, account.handle),
      client.startLogin(world.serverUrl, account.handle),
    ]);
    expect(first.status).toBe('rejected');
    expect((first as PromiseRejectedResult).reason).toBeInstanceOf(LoginSupersededError);
    expect(second.status).toBe('fulfilled');
    const started = (second as PromiseFulfilledResult<StartedLogin>).value;
    expect(timings.calls.length).toBeLessThanOrEqual(2);
    // The code the app shows; the login link's confirmation page shows the same one.
    expect(started.confirmationCode).toMatch(/^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$/);
    expect(client.currentLogin?.loginId).toBe(started.loginId);
    const done = client.awaitLogin(started.loginId);
    await approve(started.authorizeUrl, account);
    expect((await done).did).toBe(account.did);
  });

  it('a burst of 50 startLogin calls under the default rate limit: at most 2 InitiateLogin calls, 49 superseded, the last caller current', async () => {
    const timings = initiateTimings();
    const client = world.newClient({ connection: { channelOptions: { interceptors: [timings.interceptor] } } });
    const account = await world.pds.createAccount();
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => client.startLogin(world.serverUrl, account.handle)));
    const last = results.at(-1)!;
    expect(last.status).toBe('fulfilled');
    expect(client.currentLogin?.loginId).toBe((last as PromiseFulfilledResult<StartedLogin>).value.loginId);
    for (const result of results.slice(0, -1)) expect((result as PromiseRejectedResult).reason).toBeInstanceOf(LoginSupersededError);
    expect(timings.calls.length).toBeLessThanOrEqual(2);
  });

  it('a startLogin superseded while it waits for its turn rejects before any RPC of its own', async () => {
    const timings = initiateTimings();
    const client = world.newClient({ connection: { channelOptions: { interceptors: [timings.interceptor] } } });
    const account = await world.pds.createAccount();
    const first = client.startLogin(world.serverUrl, account.handle);
    const second = client.startLogin(world.serverUrl, account.handle);
    const third = client.startLogin(world.serverUrl, account.handle);
    expect(await rejectionOf(second)).toBeInstanceOf(LoginSupersededError);
    expect(await rejectionOf(first)).toBeInstanceOf(LoginSupersededError);
    const started = await third;
    expect(client.currentLogin?.loginId).toBe(started.loginId);
    expect(timings.calls.length).toBeLessThanOrEqual(2);
  });

  it('startLogin while an awaitLogin is pending is not blocked, and the old await rejects as superseded at once', async () => {
    const client = world.newClient();
    const account = await world.pds.createAccount();
    const first = await client.startLogin(world.serverUrl, account.handle);
    const progress = progressRecorder();
    const firstAwait = client.awaitLogin(first.loginId, { onProgress: progress.onProgress });
    const firstOutcome = rejectionOf(firstAwait).then((error) => ({ error, at: performance.now() }));
    await progress.seen('pending'); // the stream is open and waiting (for up to the 10-minute login TTL)

    const began = performance.now();
    const second = await within(client.startLogin(world.serverUrl, account.handle), 5_000, 'startLogin during a pending awaitLogin');
    const startMs = performance.now() - began;
    const { error, at } = await within(firstOutcome, 5_000, 'the superseded await rejecting');
    expect(startMs).toBeLessThan(2_000);
    expect(error).toBeInstanceOf(LoginSupersededError);
    expect(at - began).toBeLessThan(2_000);
    // The old login stays dead; the new one completes.
    expect(await rejectionOf(client.awaitLogin(first.loginId))).toBeInstanceOf(LoginSupersededError);
    const done = client.awaitLogin(second.loginId);
    await approve(second.authorizeUrl, account);
    expect((await done).did).toBe(account.did);
  });
});

describe('logout ends logins', () => {
  it('logout during awaitLogin cancels it; awaitLogin after logout fails at once; a late consent stores nothing', async () => {
    const client = world.newClient();
    const account = await world.pds.createAccount();
    const started = await client.startLogin(world.serverUrl, account.handle);
    const progress = progressRecorder();
    const pending = rejectionOf(client.awaitLogin(started.loginId, { onProgress: progress.onProgress }));
    await progress.seen('pending');

    await client.logout();
    expect(await within(pending, 2_000, 'the pending await rejecting after logout')).toBeInstanceOf(LoginCancelledError);
    expect(client.currentLogin).toBeUndefined();

    const began = performance.now();
    expect(await within(rejectionOf(client.awaitLogin(started.loginId)), 1_000, 'awaitLogin after logout failing')).toBeInstanceOf(
      LoginCancelledError,
    );
    expect(performance.now() - began).toBeLessThan(50);

    // The user finishes in the browser anyway: the login was cancelled on the server (CancelLogin), so the page says so and no session exists.
    const { page } = await consentViaApi(started.authorizeUrl, account).catch(async () => ({
      page: await rawRequest(started.authorizeUrl),
    }));
    expect(page.status).toBe(410);
    expect(page.body).toContain('cancelled in the app');
    expect(await client.getSession()).toBeUndefined();
    expect(await client.store.load()).toBeUndefined();
  });

  it('logout right after startLogin was called (before it ran) cancels that start', async () => {
    const client = world.newClient();
    const account = await world.pds.createAccount();
    const starting = rejectionOf(client.startLogin(world.serverUrl, account.handle));
    await client.logout();
    expect(await starting).toBeInstanceOf(LoginCancelledError);
    expect(client.currentLogin).toBeUndefined();
    expect(await client.store.load()).toBeUndefined();
  });

  it('logout of a signed-in client with a login in progress revokes the session and ends the login', async () => {
    const { client, account } = await world.signedInClient();
    const started = await client.startLogin(world.serverUrl, account.handle);
    const pending = rejectionOf(client.awaitLogin(started.loginId));
    expect(await client.logout()).toEqual({ hadSession: true, revoked: true });
    expect(await within(pending, 2_000, 'the pending await rejecting after logout')).toBeInstanceOf(LoginCancelledError);
    expect(await client.getSession()).toBeUndefined();
  });
});

describe('awaitLogin', () => {
  it('an AbortSignal cancels only the wait: the login stays current and can be awaited again to completion', async () => {
    const client = world.newClient();
    const account = await world.pds.createAccount();
    const started = await client.startLogin(world.serverUrl, account.handle);
    const controller = new AbortController();
    const progress = progressRecorder();
    const waiting = rejectionOf(client.awaitLogin(started.loginId, { signal: controller.signal, onProgress: progress.onProgress }));
    await progress.seen('pending');
    controller.abort();
    expect(await waiting).toBeInstanceOf(LoginCancelledError);
    expect(client.currentLogin?.loginId).toBe(started.loginId);
    const again = client.awaitLogin(started.loginId);
    await approve(started.authorizeUrl, account);
    expect((await again).did).toBe(account.did);
  });

  it('re-attaches a stream that went silent (idle watchdog) and still completes', async () => {
    // The server heartbeats every 300 ms; a 100 ms idle limit forces re-attaches.
    const client = world.newClient({ streamIdleTimeoutMs: 100, backoff: { initialMs: 20, maxMs: 50 } });
    const account = await world.pds.createAccount();
    const started = await client.startLogin(world.serverUrl, account.handle);
    const progress = progressRecorder();
    const done = client.awaitLogin(started.loginId, { onProgress: progress.onProgress });
    await progress.seen('reconnecting');
    await approve(started.authorizeUrl, account);
    expect((await done).did).toBe(account.did);
    expect(progress.events.filter((e) => e.type === 'pending').length).toBeGreaterThan(1);
  });
});
