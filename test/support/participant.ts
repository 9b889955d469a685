// A real LiveKit participant: livekit-client (the npm package a web app
// uses) in real Chromium, on a small page served from the test. Chosen over
// the Go server SDK's participant because Chromium and playwright-core are
// already prerequisites, the browser is what our users run, and a browser's
// WebRTC stack is the one whose behaviour (permissions, disconnects,
// reconnects with refreshed tokens) we need to see.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { REPO_ROOT } from './airlock.ts';
import { launchBrowser, type TestBrowser } from './consent.ts';

const CLIENT_JS = readFileSync(path.join(REPO_ROOT, 'node_modules/livekit-client/dist/livekit-client.umd.js'));

// window.lk: a thin scripted participant. Every outcome is recorded in
// window.lk.events so the test can read it.
const PAGE = `<!doctype html><meta charset="utf-8"><title>participant</title>
<script src="/livekit-client.umd.js"></script>
<script>
const { Room, RoomEvent, LocalVideoTrack, Track } = LivekitClient;
window.lk = {
  room: undefined,
  events: [],
  received: [],
  async join(url, token) {
    const room = new Room({ adaptiveStream: false, dynacast: false });
    window.lk.room = room;
    room.on(RoomEvent.Disconnected, (reason) => window.lk.events.push({ type: 'disconnected', reason: String(reason), at: Date.now() }));
    room.on(RoomEvent.DataReceived, (payload, participant) =>
      window.lk.received.push({ kind: 'data', text: new TextDecoder().decode(payload), from: participant?.identity }));
    room.on(RoomEvent.TrackSubscribed, (track, publication, participant) =>
      window.lk.received.push({ kind: 'track', source: publication.source, from: participant.identity }));
    room.on(RoomEvent.ParticipantPermissionsChanged, () =>
      window.lk.events.push({ type: 'permissions', permissions: JSON.parse(JSON.stringify(room.localParticipant.permissions ?? {})), at: Date.now() }));
    try {
      await room.connect(url, token, { autoSubscribe: true });
      return { ok: true, identity: room.localParticipant.identity, sid: room.localParticipant.sid };
    } catch (error) {
      return { ok: false, error: String(error && error.message || error), reason: error && error.reason, status: error && error.status };
    }
  },
  async publishVideo() {
    const canvas = document.createElement('canvas');
    canvas.width = 160; canvas.height = 120;
    const ctx = canvas.getContext('2d');
    let n = 0;
    setInterval(() => { ctx.fillStyle = n++ % 2 ? '#f00' : '#00f'; ctx.fillRect(0, 0, 160, 120); }, 100);
    const track = new LocalVideoTrack(canvas.captureStream(10).getVideoTracks()[0]);
    try {
      await window.lk.room.localParticipant.publishTrack(track, { source: Track.Source.Camera });
      return { ok: true };
    } catch (error) {
      return { ok: false, error: String(error && error.message || error) };
    }
  },
  async publishData(text) {
    try {
      await window.lk.room.localParticipant.publishData(new TextEncoder().encode(text), { reliable: true });
      return { ok: true };
    } catch (error) {
      return { ok: false, error: String(error && error.message || error) };
    }
  },
  state() {
    return window.lk.room ? window.lk.room.state : 'none';
  },
  /** Tries to rewrite its own attributes and name; each outcome, or 'no answer' after 5 s. */
  async tryRewrite(attributes, name) {
    const settle = (p) => Promise.race([
      p.then(() => 'ok', (error) => String(error && error.message || error)),
      new Promise((resolve) => setTimeout(() => resolve('no answer'), 5000)),
    ]);
    const lp = window.lk.room.localParticipant;
    return { attributes: await settle(lp.setAttributes(attributes)), name: await settle(lp.setName(name)) };
  },
  /** Resolves with the time of the next (or the past) disconnection, or null after timeoutMs. */
  waitDisconnected(timeoutMs) {
    const past = window.lk.events.find((e) => e.type === 'disconnected');
    if (past) return Promise.resolve(past.at);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      window.lk.room.once(RoomEvent.Disconnected, () => { clearTimeout(timer); resolve(Date.now()); });
    });
  },
  async leave() {
    await window.lk.room?.disconnect();
  },
};
</script>`;

export interface JoinResult {
  ok: boolean;
  identity?: string;
  sid?: string;
  error?: string;
  reason?: number;
  status?: number;
}

export interface BrowserParticipant {
  page: Page;
  join(url: string, token: string): Promise<JoinResult>;
  publishVideo(): Promise<{ ok: boolean; error?: string }>;
  publishData(text: string): Promise<{ ok: boolean; error?: string }>;
  /** livekit-client's ConnectionState: 'connected', 'disconnected', 'reconnecting', … */
  state(): Promise<string>;
  /** Tries to change its own attributes and name from the client; 'ok', the error, or 'no answer'. */
  tryRewrite(attributes: Record<string, string>, name: string): Promise<{ attributes: string; name: string }>;
  /** When the participant was disconnected (page clock, ms), waiting up to timeoutMs; null if it was not. */
  waitDisconnected(timeoutMs: number): Promise<number | null>;
  /** What happened to the connection; `at` is the page's Date.now() (same machine clock as the test). */
  events(): Promise<Array<{ type: string; reason?: string; permissions?: Record<string, unknown>; at: number }>>;
  received(): Promise<Array<{ kind: string; text?: string; source?: string; from?: string }>>;
  leave(): Promise<void>;
}

// The page's window.lk, as seen from code playwright runs in the page.
interface PageApi {
  join(url: string, token: string): Promise<JoinResult>;
  publishVideo(): Promise<{ ok: boolean; error?: string }>;
  publishData(text: string): Promise<{ ok: boolean; error?: string }>;
  state(): string;
  tryRewrite(attributes: Record<string, string>, name: string): Promise<{ attributes: string; name: string }>;
  waitDisconnected(timeoutMs: number): Promise<number | null>;
  events: Awaited<ReturnType<BrowserParticipant['events']>>;
  received: Awaited<ReturnType<BrowserParticipant['received']>>;
  leave(): Promise<void>;
}
// Each evaluate below runs in the page (playwright serialises the function
// alone), where globalThis is the window, so window.lk is spelled out in each.
type InPage = { lk: PageApi };

export interface ParticipantBrowser {
  /** A new page (its own participant) in the shared browser. */
  newParticipant(): Promise<BrowserParticipant>;
  close(): Promise<void>;
}

/** Chromium plus the page server; one per test file. */
export async function startParticipantBrowser(): Promise<ParticipantBrowser> {
  const server = http.createServer((req, res) => {
    if (req.url === '/livekit-client.umd.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(CLIENT_JS);
    } else {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let browser: TestBrowser;
  try {
    browser = await launchBrowser();
  } catch (error) {
    server.close();
    throw error;
  }
  return {
    async newParticipant() {
      const page = await browser.context.newPage();
      await page.goto(`${origin}/`);
      await page.waitForFunction(() => 'lk' in globalThis);
      return {
        page,
        join: (url, token) => page.evaluate(([u, t]) => (globalThis as unknown as InPage).lk.join(u, t), [url, token] as const),
        publishVideo: () => page.evaluate(() => (globalThis as unknown as InPage).lk.publishVideo()),
        publishData: (text) => page.evaluate((t) => (globalThis as unknown as InPage).lk.publishData(t), text),
        state: () => page.evaluate(() => (globalThis as unknown as InPage).lk.state()),
        tryRewrite: (attributes, name) =>
          page.evaluate(([a, n]) => (globalThis as unknown as InPage).lk.tryRewrite(a, n), [attributes, name] as const),
        waitDisconnected: (timeoutMs) => page.evaluate((t) => (globalThis as unknown as InPage).lk.waitDisconnected(t), timeoutMs),
        events: () => page.evaluate(() => (globalThis as unknown as InPage).lk.events),
        received: () => page.evaluate(() => (globalThis as unknown as InPage).lk.received),
        leave: () => page.evaluate(() => (globalThis as unknown as InPage).lk.leave()),
      };
    },
    async close() {
      await browser.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
