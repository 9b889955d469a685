// The log's last line of defence: a field named like a secret is censored at
// the top of a log object or one level down, whatever else is logged; the
// caller's own objects are left as they were.
import { Writable } from 'node:stream';
import { expect, test } from 'vitest';
import { createLogger, redactSecrets } from '../../server/observability/logger.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ logLevel: 'info', logFormat: 'json' }, stream) };
}

const SECRET_NAMES = [
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'token',
  'authorization',
  'loginVerifier',
  'login_verifier',
  'loginId',
  'password',
  'secret',
  'privateJwk',
];

test('every secret-named field is censored at the top and one level down; others are kept', async () => {
  const { lines, logger } = capture();
  for (const name of SECRET_NAMES) {
    logger.info({ [name]: 'top-secret', method: 'm', nested: { [name]: 'nested-secret', keep: 1 } }, 'line');
  }
  await new Promise((r) => setImmediate(r));
  expect(lines).toHaveLength(SECRET_NAMES.length);
  for (const [i, name] of SECRET_NAMES.entries()) {
    expect(lines[i]).toMatchObject({ [name]: '[redacted]', method: 'm', nested: { [name]: '[redacted]', keep: 1 }, msg: 'line' });
  }
  expect(JSON.stringify(lines)).not.toMatch(/top-secret|nested-secret/);
});

test('an error carrying a secret-named field is logged as the error, with the field censored', async () => {
  const { lines, logger } = capture();
  const error = Object.assign(new TypeError('the upstream refused'), { token: 'err-secret', code: 'E1' });
  logger.error({ err: error }, 'failed');
  await new Promise((r) => setImmediate(r));
  expect(lines[0]).toMatchObject({ err: { type: 'TypeError', message: 'the upstream refused', token: '[redacted]', code: 'E1' } });
  expect(String((lines[0]!.err as { stack: string }).stack)).toContain('TypeError: the upstream refused');
  expect(error.token).toBe('err-secret');
});

test('an RPC line goes out untouched, and a censored object is a copy', () => {
  const rpc = { method: '/airlock.auth.v1.AuthService/WhoAmI', status: 'OK', durationMs: 0.5, peer: 'ipv4:127.0.0.1:1' };
  expect(redactSecrets(rpc)).toBe(rpc);

  const nested = { token: 'x' };
  const object = { request: nested, loginId: 'y', other: 'z' };
  const result = redactSecrets(object);
  expect(result).toEqual({ request: { token: '[redacted]' }, loginId: '[redacted]', other: 'z' });
  expect(object).toEqual({ request: { token: 'x' }, loginId: 'y', other: 'z' });
  expect(nested).toEqual({ token: 'x' });
});
