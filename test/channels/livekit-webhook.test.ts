// POST /livekit/webhook on a real Airlock's HTTP listener: only webhooks
// signed with the LiveKit API key and secret over this exact body are acted
// on. Unsigned, forged, tampered, stale and oversized ones are refused with a
// clear status and record nothing; the secret never appears in answers or logs.
import { createHash, randomBytes } from 'node:crypto';
import { AccessToken } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild, startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { freeTcpPort } from '../support/livekit.ts';
import { tempDir } from '../support/settings.ts';

const KEY = 'APIwebhooktest';
const SECRET = randomBytes(32).toString('base64url');

let airlock: InProcessAirlock;

beforeAll(async () => {
  // No LiveKit here: its URL is a port nobody listens on, so removals fail and rows stay.
  airlock = await startInProcess({
    AIRLOCK_LIVEKIT_URL: `ws://127.0.0.1:${await freeTcpPort()}`,
    AIRLOCK_LIVEKIT_API_KEY: KEY,
    AIRLOCK_LIVEKIT_API_SECRET: SECRET,
    AIRLOCK_LIVEKIT_WEBHOOK_MAX_BYTES: '4096',
  });
});

afterAll(async () => {
  await airlock?.close();
});

function joinedEvent(overrides: { createdAt?: number; sid?: string } = {}): string {
  return JSON.stringify({
    event: 'participant_joined',
    id: `EV_${randomBytes(6).toString('hex')}`,
    createdAt: String(overrides.createdAt ?? Math.floor(Date.now() / 1000)),
    room: { name: 'lobby', sid: 'RM_test' },
    participant: {
      sid: overrides.sid ?? `PA_${randomBytes(6).toString('hex')}`,
      identity: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz',
      attributes: {
        'airlock.did': 'did:plc:ewvi7nxzyoun6zhxrhs64oiz',
        'airlock.handle': 'alice.test',
        'airlock.session': 'no-such-session',
        'airlock.channel': 'lobby',
      },
    },
  });
}

async function sign(body: string, key = KEY, secret = SECRET): Promise<string> {
  const token = new AccessToken(key, secret, { ttl: '5m' });
  token.sha256 = createHash('sha256').update(body).digest('base64');
  return token.toJwt();
}

async function post(body: string, authorization?: string, port = airlock.httpPort, path = '/livekit/webhook') {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/webhook+json', ...(authorization ? { authorization } : {}) },
    body,
  });
  return { status: response.status, text: await response.text() };
}

async function rows() {
  return airlock.database.db.selectFrom('livekit_participants').selectAll().execute();
}

describe('LiveKit webhooks', () => {
  it('a correctly signed one is accepted (200)', async () => {
    // Its session is unknown here, so Airlock tries to remove the participant (no LiveKit answers) and keeps the row for the next check.
    const body = joinedEvent({ sid: 'PA_accepted' });
    expect(await post(body, await sign(body))).toEqual({ status: 200, text: 'ok' });
    expect((await rows()).map((r) => r.participant_sid)).toContain('PA_accepted');
    await airlock.database.db.deleteFrom('livekit_participants').execute();
  });

  it('unsigned, forged, tampered or for another key: 401, nothing recorded', async () => {
    const body = joinedEvent();
    const cases: Array<[string, string | undefined, string]> = [
      ['unsigned', undefined, body],
      ['signed with another secret', await sign(body, KEY, randomBytes(32).toString('base64url')), body],
      ['signed by another key', await sign(body, 'APIother', SECRET), body],
      ['body changed after signing', await sign(body), body.replace('lobby', 'other')],
      ['not a JWT', 'Bearer nonsense', body],
    ];
    for (const [label, authorization, sent] of cases) {
      const answer = await post(sent, authorization);
      expect(answer.status, label).toBe(401);
      expect(answer.text, label).toMatch(/^the webhook (is not signed|signature does not verify)/);
      expect(answer.text).not.toContain(SECRET);
    }
    expect(await rows()).toEqual([]);
  });

  it('a stale one (a replay) is 400; an oversized one 413; nothing recorded', async () => {
    const stale = joinedEvent({ createdAt: Math.floor(Date.now() / 1000) - 3600 });
    expect(await post(stale, await sign(stale))).toEqual({ status: 400, text: 'the webhook is too old (replayed or long delayed)' });
    const big = joinedEvent().replace('"lobby"', `"${'x'.repeat(5000)}"`);
    expect((await post(big, await sign(big))).status).toBe(413);
    expect(await rows()).toEqual([]);
  });

  it('GET is not a webhook (404)', async () => {
    expect((await fetch(`http://127.0.0.1:${airlock.httpPort}/livekit/webhook`)).status).toBe(404);
  });
});

describe('logs', () => {
  it('never contain the LiveKit secret, a webhook signature or a bearer token (trace level, server process)', async () => {
    const dir = tempDir();
    const server = await startChild({
      AIRLOCK_DATA_DIR: dir.path,
      AIRLOCK_LOG_LEVEL: 'trace',
      AIRLOCK_LIVEKIT_URL: `ws://127.0.0.1:${await freeTcpPort()}`,
      AIRLOCK_LIVEKIT_API_KEY: KEY,
      AIRLOCK_LIVEKIT_API_SECRET: SECRET,
    });
    try {
      const body = joinedEvent();
      const signature = await sign(body);
      const forged = await sign(body, KEY, randomBytes(32).toString('base64url'));
      expect((await post(body, signature, server.httpPort)).status).toBe(200);
      expect((await post(body, forged, server.httpPort)).status).toBe(401);
      const bearer = `eyJhbGciOiJFUzI1NiJ9.${randomBytes(40).toString('base64url')}.${randomBytes(40).toString('base64url')}`;
      expect((await post(JSON.stringify({ room_name: 'lobby' }), `Bearer ${bearer}`, server.httpPort, '/livekit/token')).status).toBe(401);
      // Let the failed removal (no LiveKit answers) be logged too.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const logged = [...server.logs.map((entry) => JSON.stringify(entry)), ...server.stderr].join('\n');
      expect(logged).toContain('could not remove a LiveKit participant');
      for (const secret of [SECRET, signature, forged, bearer]) expect(logged).not.toContain(secret);
    } finally {
      await server.stop();
      dir.remove();
    }
  });
});
