// One tick's heartbeat is one message for every AwaitLogin stream, encoded
// once by the gRPC binding; nothing else is shared or remembered.
import { expect, test, vi } from 'vitest';
import { AuthServiceService, AwaitLoginResponse } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { heartbeatOnceSerializer } from '../../server/transport/grpc/auth-service.ts';
import { toAwaitLoginResponse } from '../../server/transport/rpc/login-procedures.ts';

const encode = AuthServiceService.awaitLogin.responseSerialize;

test("every stream's heartbeat of one tick is the same frozen message, and the next tick's is another", () => {
  const tick = new Date('2026-01-01T00:00:00Z');
  const a = toAwaitLoginResponse({ type: 'heartbeat', serverTime: tick });
  const b = toAwaitLoginResponse({ type: 'heartbeat', serverTime: tick });
  expect(b).toBe(a);
  expect(Object.isFrozen(a) && Object.isFrozen(a.event)).toBe(true);
  expect(a).toEqual({ event: { $case: 'heartbeat', value: { serverTime: tick } } });
  const next = toAwaitLoginResponse({ type: 'heartbeat', serverTime: new Date(tick.getTime() + 15_000) });
  expect(next).not.toBe(a);
  expect(next.event).toEqual({ $case: 'heartbeat', value: { serverTime: new Date(tick.getTime() + 15_000) } });
});

test('the gRPC encoder encodes a tick’s heartbeat once for all streams, and the bytes decode to it', () => {
  const serialize = vi.fn(encode);
  const encoder = heartbeatOnceSerializer(serialize);
  const tick = new Date('2026-01-01T00:00:15Z');
  const writes = Array.from({ length: 100 }, () => encoder(toAwaitLoginResponse({ type: 'heartbeat', serverTime: tick })));
  expect(serialize).toHaveBeenCalledTimes(1);
  expect(AwaitLoginResponse.decode(writes[99]!)).toEqual({ event: { $case: 'heartbeat', value: { serverTime: tick } } });
  expect(Buffer.compare(writes[0]!, encode(toAwaitLoginResponse({ type: 'heartbeat', serverTime: tick })))).toBe(0);
  // The next tick is encoded afresh.
  const later = new Date(tick.getTime() + 15_000);
  expect(AwaitLoginResponse.decode(encoder(toAwaitLoginResponse({ type: 'heartbeat', serverTime: later })))).toEqual({
    event: { $case: 'heartbeat', value: { serverTime: later } },
  });
  expect(serialize).toHaveBeenCalledTimes(2);
});

test('other messages, and heartbeats not made by the procedures, are encoded every time', () => {
  const serialize = vi.fn(encode);
  const encoder = heartbeatOnceSerializer(serialize);
  const failed = toAwaitLoginResponse({ type: 'failed', reason: 'expired', message: 'expired' });
  encoder(failed);
  encoder(failed);
  const mutable: AwaitLoginResponse = { event: { $case: 'heartbeat', value: { serverTime: new Date(0) } } };
  encoder(mutable);
  expect(AwaitLoginResponse.decode(encoder(mutable))).toEqual(mutable);
  expect(serialize).toHaveBeenCalledTimes(4);
});
