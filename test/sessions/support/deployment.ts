// A server under test that can be restarted on its own data directory and
// HTTP port (so the issuer and the loopback OAuth client stay the same).
import { Metadata } from '@grpc/grpc-js';
import { startInProcess, type InProcessAirlock } from '../../support/airlock.ts';
import { clientsFor } from '../../support/grpc.ts';
import { tempDir } from '../../support/settings.ts';

export interface Deployment {
  server: InProcessAirlock;
  clients: ReturnType<typeof clientsFor>;
  /** Stops the server and starts it again on the same data directory and HTTP port. */
  restart(): Promise<void>;
}

export type Cleanups = Array<() => Promise<void> | void>;

/** Starts a deployment; what it leaves behind is pushed onto `cleanups`. */
export async function restartableDeployment(env: Record<string, string>, cleanups: Cleanups): Promise<Deployment> {
  const data = tempDir();
  const base = { AIRLOCK_DATA_DIR: data.path, ...env };
  const d = { server: await startInProcess(base) } as Deployment;
  d.clients = clientsFor(d.server.grpcTarget);
  // The loopback OAuth client id names the callback port, and the issuer is
  // the HTTP URL: both must stay the same across the restart.
  const pinned = { ...base, AIRLOCK_HTTP_ADDRESS: `127.0.0.1:${d.server.httpPort}` };
  d.restart = async () => {
    d.clients.close();
    await d.server.close();
    d.server = await startInProcess(pinned);
    d.clients = clientsFor(d.server.grpcTarget);
  };
  cleanups.push(
    () => data.remove(),
    async () => {
      d.clients.close();
      await d.server.close();
    },
  );
  return d;
}

export function bearer(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}
