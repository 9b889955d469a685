// Which browser may finish a login at the callback (browser-binding.ts), as
// pure decisions over a stored login: the link's token wins from any
// network; without it, only where the mode needed no confirmation page. The
// real flows (Chromium, forged callbacks) are in confirmation-page.test.ts.
import { describe, expect, it } from 'vitest';
import { browserTokenKey, mayComplete, needsConfirmation } from '../../server/login/browser-binding.ts';
import type { LoginRecord } from '../../server/login/login-store.ts';
import { randomSecret, sha256 } from '../../server/login/secrets.ts';

const token = randomSecret();

function login(overrides: Partial<LoginRecord> = {}): LoginRecord {
  return {
    ref: 'ref-1',
    verifierChallenge: 'x'.repeat(43),
    identifier: 'alice.test',
    status: 'pending',
    createdAt: 0,
    expiresAt: Number.MAX_SAFE_INTEGER,
    browserOpenedAt: null,
    result: null,
    authorizeUrl: 'https://pds.example/oauth/authorize',
    authorizeUrlAt: 0,
    resultKey: null,
    traceParent: null,
    clientLabel: null,
    confirmation: { code: 'ABCD-EFGH', initiatorAddress: '198.51.100.7' },
    confirmTokenHash: null,
    authorizeUrlClaimedAt: null,
    browserTokenHash: sha256(token),
    ...overrides,
  };
}

const at = (address: string, presented = '') => ({ address, token: (key: string) => (key === browserTokenKey('ref-1') ? presented : '') });

describe('needsConfirmation', () => {
  it('cross-network: only off the app network (IPv4 exact, IPv6 /64); always: everywhere; never, or a login without a code: nowhere', () => {
    const confirmation = { code: 'ABCD-EFGH', initiatorAddress: '2001:db8:1:2::a' };
    expect(needsConfirmation('cross-network', confirmation, '2001:db8:1:2::b')).toBe(false);
    expect(needsConfirmation('cross-network', confirmation, '2001:db8:1:3::a')).toBe(true);
    expect(needsConfirmation('cross-network', confirmation, '')).toBe(true);
    expect(needsConfirmation('always', confirmation, '2001:db8:1:2::a')).toBe(true);
    expect(needsConfirmation('never', confirmation, '203.0.113.9')).toBe(false);
    expect(needsConfirmation('always', null, '203.0.113.9')).toBe(false);
  });
});

describe('mayComplete', () => {
  it("the link's token completes from any network, in every mode", () => {
    for (const mode of ['always', 'cross-network', 'never'] as const) {
      expect(mayComplete(login(), mode, at('203.0.113.9', token))).toBe(true);
    }
  });

  it('without the token (or with a wrong one): only the app network in cross-network mode, nothing in always mode', () => {
    expect(mayComplete(login(), 'cross-network', at('198.51.100.7'))).toBe(true);
    expect(mayComplete(login(), 'cross-network', at('203.0.113.9'))).toBe(false);
    expect(mayComplete(login(), 'cross-network', at('203.0.113.9', randomSecret()))).toBe(false);
    expect(mayComplete(login(), 'always', at('198.51.100.7'))).toBe(false);
    expect(mayComplete(login(), 'never', at('203.0.113.9'))).toBe(true);
    // No browser was sent on yet: a token cannot match nothing.
    expect(mayComplete(login({ browserTokenHash: null }), 'cross-network', at('203.0.113.9', token))).toBe(false);
  });

  it('a login from before the confirmation page completes as before', () => {
    expect(mayComplete(login({ confirmation: null, browserTokenHash: null }), 'always', at('203.0.113.9'))).toBe(true);
  });

  it("each login's token has its own name, which reveals nothing of the login", () => {
    expect(browserTokenKey('ref-1')).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(browserTokenKey('ref-1')).not.toBe(browserTokenKey('ref-2'));
    expect(browserTokenKey('ref-1')).not.toContain('ref');
  });
});
