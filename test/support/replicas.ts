// Several Airlock server processes on one PostgreSQL database, as behind a
// load balancer: they share one public https URL (so the confidential OAuth
// client, as in production), and the test decides which replica each
// browser request reaches by rewriting that URL to a replica's own port.
//
// The PDS runs in this process and fetches the client's metadata document
// from the public URL; routePublicUrl() answers those fetches from a live
// replica, the way DNS and the load balancer would.
import { startChild, type ChildAirlock } from './airlock.ts';
import { clientsFor } from './grpc.ts';
import { tempDir } from './settings.ts';

export const PUBLIC_URL = 'https://airlock.example-app.dev';

export interface Replica extends ChildAirlock {
  name: string;
  clients: ReturnType<typeof clientsFor>;
  /** Stops the process (SIGTERM unless told) and closes the clients; removes its data directory. */
  close(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts one replica on the database; `env` adds settings (e.g. the PDS's). */
export async function startReplica(name: string, databaseUrl: string, env: Record<string, string> = {}): Promise<Replica> {
  const dir = tempDir(`airlock-${name}-`);
  let child: ChildAirlock;
  try {
    child = await startChild({
      AIRLOCK_DATABASE_URL: databaseUrl,
      AIRLOCK_PUBLIC_URL: PUBLIC_URL,
      AIRLOCK_DATA_DIR: dir.path,
      ...env,
    });
  } catch (error) {
    dir.remove();
    throw error;
  }
  const clients = clientsFor(child.grpcTarget);
  // If the test process ends without closing it, the replica goes too.
  const orphan = () => child.process.kill('SIGKILL');
  process.once('exit', orphan);
  void child.exited.then(() => process.off('exit', orphan));
  return Object.assign(child, {
    name,
    clients,
    async close(signal: NodeJS.Signals = 'SIGTERM') {
      clients.close();
      await child.stop(signal);
      dir.remove();
    },
  });
}

/** The same URL as reached on this replica's own HTTP port (the load balancer's choice). */
export function viaReplica(url: string, replica: { httpPort: number }): string {
  if (!url.startsWith(PUBLIC_URL)) throw new Error(`${url} is not under ${PUBLIC_URL}`);
  return `http://127.0.0.1:${replica.httpPort}${url.slice(PUBLIC_URL.length)}`;
}

/** Answers this process's fetches of the public URL from `pick()`'s replica; returns the undo. */
export function routePublicUrl(pick: () => { httpPort: number }): () => void {
  const original = globalThis.fetch;
  globalThis.fetch = (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(`${PUBLIC_URL}/`)) return original(input, init);
    const target = viaReplica(url, pick());
    // The PDS fetches through an SSRF-safe dispatcher that refuses 127.0.0.1: the route leaves it out.
    const { dispatcher: _dispatcher, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
    return input instanceof Request ? original(new Request(target, input), rest) : original(target, rest);
  };
  return () => {
    globalThis.fetch = original;
  };
}
