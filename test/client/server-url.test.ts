// How the client reads a server address (pure parsing, no network).
import { describe, expect, it } from 'vitest';
import { InvalidServerUrlError } from '../../client/errors.ts';
import { parseServerUrl } from '../../client/grpc/connection.ts';
import { challengeOf, createLoginVerifier } from '../../client/login-verifier.ts';

describe('parseServerUrl', () => {
  it.each([
    ['https://airlock.example.com', { url: 'https://airlock.example.com:443', target: 'airlock.example.com:443', tls: true }],
    ['https://airlock.example.com:8443/', { url: 'https://airlock.example.com:8443', target: 'airlock.example.com:8443', tls: true }],
    ['http://127.0.0.1:50051', { url: 'http://127.0.0.1:50051', target: '127.0.0.1:50051', tls: false }],
    ['127.0.0.1:50051', { url: 'http://127.0.0.1:50051', target: '127.0.0.1:50051', tls: false }],
    ['localhost:50051', { url: 'http://localhost:50051', target: 'localhost:50051', tls: false }],
    ['airlock.example.com:443', { url: 'https://airlock.example.com:443', target: 'airlock.example.com:443', tls: true }],
  ])('%s', (input, expected) => {
    expect(parseServerUrl(input)).toEqual(expected);
  });

  it.each(['ftp://x:1', 'https://x/path', 'https://user:pw@x', 'https://x?q=1', 'not a url at all'])('refuses %s', (input) => {
    expect(() => parseServerUrl(input)).toThrow(InvalidServerUrlError);
  });
});

describe('login verifier', () => {
  it('is 43 base64url characters from the CSPRNG, with an S256 challenge', () => {
    const a = createLoginVerifier();
    const b = createLoginVerifier();
    expect(a.verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.verifier).not.toBe(b.verifier);
    // RFC 7636 appendix B test vector.
    expect(challengeOf('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });
});
