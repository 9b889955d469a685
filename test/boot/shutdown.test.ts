// SIGTERM: health goes NOT_SERVING, new calls are refused, a unary call in
// flight finishes, open streams (ours and the library's) end with
// UNAVAILABLE, and the process exits 0 within the grace period.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthCheckResponse_ServingStatus, type HealthCheckResponse } from '../../proto/gen/grpc/health/v1/health.ts';
import { startChild } from '../support/airlock.ts';
import { clientsFor, grpcFailure } from '../support/grpc.ts';
import { decideViaApi, deliverCallback, openAuthorizePage } from '../support/consent.ts';
import { awaitLogin, initiateLogin } from '../support/login.ts';
import { startPds, type TestPds } from '../support/pds.ts';
import { holdPdsAnswers, tokenRequests } from '../support/pds-hold.ts';
import { tempDir } from '../support/settings.ts';

let pds: TestPds;
beforeAll(async () => {
  pds = await startPds();
});
afterAll(() => pds?.stop());

/** A PDS that answers only after a delay: keeps an InitiateLogin in flight. */
async function slowServer(delayMs: number) {
  const server = http.createServer((_req, res) => {
    setTimeout(() => res.writeHead(404).end(), delayMs);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('graceful shutdown', () => {
  it('drains: streams end UNAVAILABLE, in-flight unary finishes, new calls refused, exit 0', async () => {
    const data = tempDir();
    const slow = await slowServer(1_500);
    const account = await pds.createAccount();
    const server = await startChild({ ...pds.airlockEnv(), AIRLOCK_DATA_DIR: data.path, AIRLOCK_SHUTDOWN_GRACE: '5s' });
    const clients = clientsFor(server.grpcTarget);
    try {
      // A library stream (health Watch) and one of ours (AwaitLogin).
      const watch = clients.health.watch({ service: '' });
      const seen: number[] = [];
      const watchEnded = new Promise<ServiceError>((resolve) => {
        watch.on('data', (r: HealthCheckResponse) => seen.push(r.status));
        watch.on('error', (e: ServiceError) => resolve(e));
      });
      const login = await initiateLogin(clients.auth, account.handle);
      const stream = awaitLogin(clients.auth, login.loginId, login.verifier);
      await stream.next('pending');
      await expect.poll(() => seen).toContain(HealthCheckResponse_ServingStatus.SERVING);

      // A unary call that is still talking to its (slow) PDS when the signal comes.
      const inFlight = grpcFailure(initiateLogin(clients.auth, slow.url, { deadlineMs: 10_000 }));
      await new Promise((resolve) => setTimeout(resolve, 300));

      const readyz = () =>
        fetch(`http://127.0.0.1:${server.httpPort}/readyz`).then(
          async (r) => `${r.status} ${await r.text()}`,
          () => 'refused',
        );
      const livez = () => fetch(`http://127.0.0.1:${server.httpPort}/livez`).then((r) => r.status);
      expect(await readyz()).toBe('200 ok');
      expect(await livez()).toBe(200);

      const started = Date.now();
      server.process.kill('SIGTERM');
      // While the in-flight call drains, readiness fails: 503 draining, or a refused
      // connection once the HTTP listener stops accepting (both mean "no new work").
      await expect.poll(readyz).toMatch(/^(503 draining|refused)$/);

      const streamEnd = await stream.end;
      expect(streamEnd.code).toBe(status.UNAVAILABLE);
      expect(streamEnd.details).toMatch(/shutting down/);
      expect((await watchEnded).code).toBe(status.UNAVAILABLE);
      expect(seen).toContain(HealthCheckResponse_ServingStatus.NOT_SERVING);

      // New calls are refused (by the draining server, or by a closed listener).
      const late = await grpcFailure(initiateLogin(clients.auth, account.handle, { deadlineMs: 3_000 }));
      expect(late.code).toBe(status.UNAVAILABLE);

      // The unary call ran to its own answer, not a shutdown cut.
      const finished = await inFlight;
      expect(finished.details).not.toMatch(/shutting down/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);

      expect(await server.exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(server.logs.map((l) => l.msg)).toContain('stopped');
    } finally {
      clients.close();
      slow.close();
      await server.stop('SIGKILL');
      data.remove();
    }
  });

  it('lets an OAuth callback in the middle of its code exchange finish: the browser gets its page, then exit 0', async () => {
    const data = tempDir();
    const account = await pds.createAccount();
    const server = await startChild({ ...pds.airlockEnv(), AIRLOCK_DATA_DIR: data.path, AIRLOCK_SHUTDOWN_GRACE: '20s' });
    const clients = clientsFor(server.grpcTarget);
    const hold = holdPdsAnswers(pds, tokenRequests);
    try {
      const login = await initiateLogin(clients.auth, account.handle);
      const callbackUrl = await decideViaApi(await openAuthorizePage(login.authorizeUrl), account);
      // The browser's callback reaches the server; the PDS's token answer is held.
      const page = deliverCallback(callbackUrl);
      page.catch(() => {});
      await hold.held();

      server.process.kill('SIGTERM');
      // Release the PDS once the server says it waits for the callback, or once it is gone.
      const draining = () => server.logs.some((l) => l.msg === 'letting HTTP requests in flight finish');
      await Promise.race([server.exited, expect.poll(draining, { timeout: 15_000, interval: 20 }).toBe(true)]);
      hold.release();

      const answered = await page;
      expect(answered.status).toBe(200);
      expect(answered.body).toContain(`Signed in as @${account.handle}.`);
      expect(answered.headers.connection).toBe('close');
      expect(await server.exited).toBe(0);
      expect(server.logs.some((l) => l.msg === 'login finished')).toBe(true);
    } finally {
      hold.dispose();
      clients.close();
      await server.stop('SIGKILL');
      data.remove();
    }
  });
});
