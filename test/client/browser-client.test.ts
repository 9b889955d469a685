// The browser build of the client in real Chromium: a page on an origin in
// AIRLOCK_CORS_ORIGINS loads the bundle (built here, on the fly, with
// esbuild), signs in through the sandbox PDS in a second tab (AwaitLogin as a
// Connect server stream over HTTP/1.1, through CORS), gets a channel token
// with its bearer, makes a call over gRPC-Web, and keeps its session across a
// reload (localStorage). A page on another origin is refused.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as BrowserEntry from '../../client/browser.ts';
import { buildBrowserClient } from '../../scripts/build-browser.ts';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { consentInBrowser, launchBrowser, type TestBrowser } from '../support/consent.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';
import { tempDir } from '../support/settings.ts';

/** The page's globals, as the scripts below set them (types only: this runs in Chromium). */
interface AppWindow {
  document: { title: string };
  airlock: typeof BrowserEntry;
  client: BrowserEntry.AirlockBrowserClient;
  signedIn: Promise<BrowserEntry.SessionInfo>;
  progress: string[];
}

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>Airlock browser client</title>
<script type="module">
  import * as airlock from '/airlock-client.js';
  window.airlock = airlock;
  document.title = 'ready';
</script>`;

/** A static server for the page and the bundle: an app's own origin. */
async function servePage(bundle: string): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/airlock-client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(readFileSync(bundle));
    } else if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function openApp(browser: TestBrowser, origin: string): Promise<Page> {
  const page = await browser.context.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => (globalThis as unknown as AppWindow).document.title === 'ready');
  return page;
}

describe('the browser build in Chromium', () => {
  const out = tempDir('airlock-browser-build-');
  let bundle: { file: string; inputs: string[] };
  let pds: TestPds;
  let account: TestAccount;
  let airlock: InProcessAirlock;
  let app: { origin: string; close(): Promise<void> };
  let foreign: { origin: string; close(): Promise<void> };
  let browser: TestBrowser;

  beforeAll(async () => {
    const built = await buildBrowserClient(out.path);
    bundle = { file: built.file, inputs: Object.keys(built.metafile.inputs) };
    app = await servePage(bundle.file);
    foreign = await servePage(bundle.file);
    pds = await startPds();
    account = await pds.createAccount();
    airlock = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_CORS_ORIGINS: app.origin });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await airlock?.close();
    await pds?.stop();
    await app?.close();
    await foreign?.close();
    out.remove();
  });

  it('is one ESM file whose inputs include the shared core and no node:* or grpc-js', () => {
    expect(bundle.inputs.some((input) => input.startsWith('node:') || input.includes('@grpc/grpc-js'))).toBe(false);
    expect(bundle.inputs).toContain('client/client-core.ts');
    expect(bundle.inputs).toContain('client/session-keeper.ts');
    expect(path.basename(bundle.file)).toBe('airlock-client.js');
  });

  it('signs in over Connect with consent in a second tab, gets a channel token, calls over gRPC-Web, and survives a reload', async () => {
    const serverUrl = airlock.publicUrl;
    const page = await openApp(browser, app.origin);
    const authorizeUrl = await page.evaluate(
      async ({ serverUrl, handle }) => {
        const w = globalThis as unknown as AppWindow;
        w.client = w.airlock.createBrowserClient({ serverUrl });
        w.progress = [];
        const started = await w.client.startLogin(serverUrl, handle);
        w.signedIn = w.client.awaitLogin(started.loginId, { onProgress: (p) => w.progress.push(p.type) });
        w.signedIn.catch(() => {});
        return started.authorizeUrl;
      },
      { serverUrl, handle: account.handle },
    );
    expect(authorizeUrl.startsWith(`${serverUrl}/login/`)).toBe(true);

    const consentTab = await browser.context.newPage();
    await consentInBrowser(consentTab, authorizeUrl, account, 'approve');
    await consentTab.close();

    const session = await page.evaluate(async () => {
      const w = globalThis as unknown as AppWindow;
      const info = await w.signedIn;
      return { did: info.did, handle: info.handle, sessionId: info.sessionId, progress: w.progress };
    });
    expect(session.did).toBe(account.did);
    expect(session.handle).toBe(account.handle);
    expect(session.progress).toEqual(expect.arrayContaining(['pending', 'browser-opened']));

    const token = await page.evaluate(async () => {
      const w = globalThis as unknown as AppWindow;
      const minted = await w.client.getChannelToken('lobby');
      return { room: minted.room, token: minted.token, identity: minted.identity };
    });
    expect(token.room).toBe('lobby');
    expect(token.token.split('.')).toHaveLength(3);
    expect(token.identity).toContain(account.did);

    // gRPC-Web from the same page, on the session the Connect client stored.
    const overGrpcWeb = await page.evaluate(async (serverUrl) => {
      const w = globalThis as unknown as AppWindow;
      const client = w.airlock.createBrowserClient({ serverUrl, protocol: 'grpc-web' });
      const me = await client.whoAmI();
      const channels = await client.listChannels();
      return { did: me.did, channels: channels.map((c) => c.id) };
    }, serverUrl);
    expect(overGrpcWeb).toEqual({ did: account.did, channels: ['lobby'] });

    // A reload keeps the session: it is read back from localStorage.
    await page.reload();
    await page.waitForFunction(() => (globalThis as unknown as AppWindow).document.title === 'ready');
    const afterReload = await page.evaluate(async (serverUrl) => {
      const w = globalThis as unknown as AppWindow;
      const client = w.airlock.createBrowserClient({ serverUrl });
      const stored = await client.getSession();
      const me = await client.whoAmI();
      return { sessionId: stored?.sessionId, did: me.did };
    }, serverUrl);
    expect(afterReload).toEqual({ sessionId: session.sessionId, did: account.did });
    await page.close();
  });

  it('gets unauthenticated over Connect with the same ErrorInfo reason as over gRPC', async () => {
    const grpc = clientsFor(airlock.grpcTarget);
    try {
      const overGrpc = await grpcFailure(call(grpc.channels, grpc.channels.getChannelToken, { channelId: 'lobby' }));
      expect(overGrpc).toMatchObject({ code: 16, reason: 'TOKEN_MISSING' });
    } finally {
      grpc.close();
    }
    const page = await openApp(browser, app.origin);
    const overConnect = await page.evaluate(async (serverUrl) => {
      const w = globalThis as unknown as AppWindow;
      const transport = new w.airlock.ConnectTransport();
      try {
        await transport.unary(serverUrl, 'getChannelToken', { channelId: 'lobby' }, { deadlineMs: 5000 });
        return undefined;
      } catch (error) {
        const e = error as BrowserEntry.TransportError;
        return { code: e.code, reason: e.errorInfo?.reason, domain: e.errorInfo?.domain };
      }
    }, airlock.publicUrl);
    expect(overConnect).toEqual({ code: 16, reason: 'TOKEN_MISSING', domain: 'airlock.dev' });
    await page.close();
  });

  it('durable first: a localStorage that refuses the write (its real quota) fails save(), never a silent success', async () => {
    const page = await openApp(browser, foreign.origin);
    const outcome = await page.evaluate(async () => {
      const w = globalThis as unknown as AppWindow & { localStorage: Storage };
      const store = new w.airlock.BrowserStore({ key: 'quota-test' });
      const state = { version: 1 as const, loginServerUrl: 'http://127.0.0.1:1' };
      // Fill the origin's quota for real, down to the last few characters.
      let i = 0;
      for (const size of [256 * 1024, 16 * 1024, 1024, 64, 4]) {
        const chunk = 'x'.repeat(size);
        for (;;) {
          try {
            w.localStorage.setItem(`f${i++}`, chunk);
          } catch {
            break;
          }
        }
      }
      let code: string | undefined;
      try {
        await store.save(state);
      } catch (error) {
        code = (error as BrowserEntry.SessionStorageError).code;
      }
      const afterFailure = await store.load();
      w.localStorage.clear();
      await store.save(state);
      return { code, afterFailure: afterFailure ?? null, afterRoom: await store.load() };
    });
    expect(outcome).toEqual({
      code: 'STORAGE_FAILED',
      afterFailure: null,
      afterRoom: { version: 1, loginServerUrl: 'http://127.0.0.1:1' },
    });
    await page.close();
  });

  it('refuses a page whose origin is not in AIRLOCK_CORS_ORIGINS', async () => {
    const page = await openApp(browser, foreign.origin);
    const failure = await page.evaluate(
      async ({ serverUrl, handle }) => {
        const w = globalThis as unknown as AppWindow;
        const client = w.airlock.createBrowserClient({ serverUrl, storeOptions: { key: 'foreign' } });
        try {
          await client.startLogin(serverUrl, handle);
          return undefined;
        } catch (error) {
          return (error as { code: string }).code;
        }
      },
      { serverUrl: airlock.publicUrl, handle: account.handle },
    );
    // The browser withholds the answer: to the page, the server is unreachable.
    expect(failure).toBe('SERVER_UNAVAILABLE');
    await page.close();
  });
});
