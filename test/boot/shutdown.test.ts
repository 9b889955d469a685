// SIGTERM: health goes NOT_SERVING, open streams end with UNAVAILABLE, the
// process exits 0 within the grace period.
import { status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { HealthCheckResponse_ServingStatus, type HealthCheckResponse } from '../../proto/gen/grpc/health/v1/health.ts';
import { startChild } from '../support/airlock.ts';
import { clientsFor } from '../support/grpc.ts';
import { tempDir } from '../support/settings.ts';

describe('graceful shutdown', () => {
  it('ends an open stream with UNAVAILABLE, reports NOT_SERVING and exits 0', async () => {
    const data = tempDir();
    const server = await startChild({ AIRLOCK_DATA_DIR: data.path, AIRLOCK_SHUTDOWN_GRACE: '5s' });
    const clients = clientsFor(server.grpcTarget);
    try {
      const watch = clients.health.watch({ service: '' });
      const seen: number[] = [];
      const ended = new Promise<ServiceError>((resolve) => {
        watch.on('data', (r: HealthCheckResponse) => seen.push(r.status));
        watch.on('error', (e: ServiceError) => resolve(e));
      });
      await expect.poll(() => seen).toContain(HealthCheckResponse_ServingStatus.SERVING);

      const started = Date.now();
      server.process.kill('SIGTERM');
      const error = await ended;
      expect(error.code).toBe(status.UNAVAILABLE);
      expect(seen).toContain(HealthCheckResponse_ServingStatus.NOT_SERVING);
      expect(await server.exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(server.logs.map((l) => l.msg)).toContain('stopped');
    } finally {
      clients.close();
      await server.stop('SIGKILL');
      data.remove();
    }
  });
});
