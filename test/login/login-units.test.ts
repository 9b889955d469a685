// The login domain's small parts on their own: the in-process event bus, the
// verifier check, result sealing and identifier parsing.
import { createHash } from 'node:crypto';
import { expect, test } from 'vitest';
import { InvalidArgumentError } from '../../server/errors.ts';
import { parseIdentifier } from '../../server/login/identifier.ts';
import { parseCatalog } from '../../server/channels/catalog.ts';
import { InProcessLoginEventBus } from '../../server/coordination/in-process-event-bus.ts';
import type { LoginEvent } from '../../server/coordination/login-events.ts';
import { open, seal, sealingKeyFor } from '../../server/login/result-sealing.ts';
import { randomSecret, verifierMatches } from '../../server/login/secrets.ts';

test("the in-process bus delivers to the login's subscribers only and counts listeners exactly", async () => {
  const bus = new InProcessLoginEventBus();
  const got: Array<[string, LoginEvent]> = [];
  const offA1 = bus.subscribe('a', (e) => got.push(['a1', e]));
  const offA2 = bus.subscribe('a', (e) => got.push(['a2', e]));
  const offB = bus.subscribe('b', (e) => got.push(['b', e]));
  // A throwing listener does not keep the event from the others.
  const offBad = bus.subscribe('a', () => {
    throw new Error('boom');
  });
  expect(bus.listenerCount).toBe(4);
  await bus.publish('a', { type: 'finished' });
  expect(got.map(([who]) => who)).toEqual(['a1', 'a2']);
  offA1();
  offA1(); // idempotent
  offBad();
  expect(bus.listenerCount).toBe(2);
  await bus.publish('a', { type: 'browser-opened', at: new Date(0) });
  expect(got.map(([who]) => who)).toEqual(['a1', 'a2', 'a2']);
  offA2();
  offB();
  expect(bus.listenerCount).toBe(0);
  await bus.publish('nobody', { type: 'finished' });
  await bus.close();
});

test('the verifier matches its S256 challenge only', () => {
  const verifier = randomSecret();
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  expect(verifierMatches(verifier, challenge)).toBe(true);
  expect(verifierMatches(randomSecret(), challenge)).toBe(false);
  expect(verifierMatches('too-short', challenge)).toBe(false);
  expect(verifierMatches(verifier, 'not-a-challenge')).toBe(false);
  expect(verifierMatches(`${verifier}!`, challenge)).toBe(false);
});

test('a sealed result opens with its login id only', async () => {
  const loginId = randomSecret();
  const sealed = await seal(sealingKeyFor(loginId), '{"refreshToken":"secret"}');
  expect(sealed).not.toContain('secret');
  expect(await open(loginId, sealed)).toBe('{"refreshToken":"secret"}');
  await expect(open(randomSecret(), sealed)).rejects.toThrow();
  // The stored key is public: it cannot open anything by itself.
  expect(JSON.parse(sealingKeyFor(loginId))).not.toHaveProperty('d');
});

test('one DID grammar: InitiateLogin and the channel catalog accept and refuse the same DIDs', () => {
  const dev = { allowHttp: true };
  const catalogAccepts = (did: string) => {
    try {
      parseCatalog({ channels: [{ id: 'c', name: 'C', join: [did], permissions: { publish: true, subscribe: true, publishData: true } }] });
      return true;
    } catch {
      return false;
    }
  };
  const loginAccepts = (did: string) => {
    try {
      return parseIdentifier(did, dev).kind === 'did';
    } catch {
      return false;
    }
  };
  const samples = [
    'did:plc:ewvi7nxzyoun6zhxrhs64oiz',
    'did:web:example.com',
    'did:web:localhost%3A8080',
    // Accepted by InitiateLogin and refused by the catalog before they shared one grammar.
    'did:web:localhost%3a8080',
    'did:web:example.com:path',
    'did:plc:NOTBASE32',
    'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK',
    'did:web:',
  ];
  for (const did of samples) expect(loginAccepts(did), did).toBe(catalogAccepts(did));
  expect(samples.filter(loginAccepts)).toEqual(['did:plc:ewvi7nxzyoun6zhxrhs64oiz', 'did:web:example.com', 'did:web:localhost%3A8080']);
});

test('identifiers: handles (with or without @), did:plc, did:web, service origins', () => {
  const dev = { allowHttp: true };
  expect(parseIdentifier('@Alice.Bsky.Social', dev)).toEqual({ kind: 'handle', value: 'alice.bsky.social' });
  expect(parseIdentifier(' alice.test ', dev)).toEqual({ kind: 'handle', value: 'alice.test' });
  expect(parseIdentifier('did:plc:ewvi7nxzyoun6zhxrhs64oiz', dev)).toEqual({ kind: 'did', value: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz' });
  expect(parseIdentifier('did:web:example.com', dev)).toEqual({ kind: 'did', value: 'did:web:example.com' });
  expect(parseIdentifier('https://bsky.social/', dev)).toEqual({ kind: 'service', value: 'https://bsky.social' });
  expect(parseIdentifier('http://localhost:2583', dev)).toEqual({ kind: 'service', value: 'http://localhost:2583' });
  expect(() => parseIdentifier('http://localhost:2583', { allowHttp: false })).toThrow(InvalidArgumentError);
  for (const bad of ['alice.123', '-a.com', 'a..b', 'did:plc:', 'https://', 'javascript:alert(1)']) {
    expect(() => parseIdentifier(bad, dev), bad).toThrow(InvalidArgumentError);
  }
});
