// Reflection cannot be used to fill the server's memory, and production can
// turn it off. A client that sends 40,000 reflection requests without reading
// an answer is held back by HTTP/2 flow control: the server stops reading
// while its answers are unread, so its memory stays flat (it grew by 65 MB and
// never came back before this was bounded).
import { readFileSync } from 'node:fs';
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ServerReflectionClient,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from '../../proto/gen/grpc/reflection/v1/reflection.ts';
import { startChild, type ChildAirlock } from '../support/airlock.ts';
import { tempDir } from '../support/settings.ts';
import { runTool } from '../support/tools.ts';

const dirs: Array<{ remove(): void }> = [];
const children: ChildAirlock[] = [];

async function server(env: Record<string, string> = {}): Promise<ChildAirlock> {
  const dir = tempDir();
  dirs.push(dir);
  const child = await startChild({ AIRLOCK_DATA_DIR: dir.path, ...env });
  children.push(child);
  return child;
}

afterAll(async () => {
  for (const child of children) await child.stop();
  for (const dir of dirs) dir.remove();
});

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

describe('reflection', () => {
  it('holds back a client that never reads, instead of buffering answers', async () => {
    const airlock = await server();
    const client = new ServerReflectionClient(airlock.grpcTarget, credentials.createInsecure());
    const call: ClientDuplexStream<ServerReflectionRequest, ServerReflectionResponse> = client.serverReflectionInfo();
    call.on('error', () => {});
    // Read a first answer so the stream is up, then stop reading.
    const first = new Promise((resolve) => call.once('data', resolve));
    call.write({ host: '', messageRequest: { $case: 'fileContainingSymbol', value: 'airlock.auth.v1.AuthService' } });
    await first;
    call.pause();
    const before = rssBytes(airlock.process.pid!);
    let accepted = 0;
    for (let i = 0; i < 40_000; i++) {
      // Each answer is the whole auth.proto with its imports (~10 kB).
      if (call.write({ host: '', messageRequest: { $case: 'fileContainingSymbol', value: 'airlock.auth.v1.AuthService' } })) accepted += 1;
      if (i % 1_000 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    // Give the server time to take whatever flow control lets through.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const grown = rssBytes(airlock.process.pid!) - before;
    // Measured here: about 1 MB bounded, 22 MB in these 2 s (and growing) when the server ignored back-pressure.
    expect(grown).toBeLessThan(8 * 1024 * 1024);
    expect(accepted).toBeLessThan(40_000);
    call.cancel();
    client.close();
    // The server is still fine.
    expect((await runTool('grpcurl', ['-plaintext', airlock.grpcTarget, 'list'])).code).toBe(0);
  });

  it('is off when AIRLOCK_REFLECTION=false, while health still answers', async () => {
    const airlock = await server({ AIRLOCK_REFLECTION: 'false' });
    const list = await runTool('grpcurl', ['-plaintext', airlock.grpcTarget, 'list']);
    expect(list.code).not.toBe(0);
    expect(list.stderr).toMatch(/does not support the reflection API/);
    const probe = await runTool('grpc_health_probe', [`-addr=${airlock.grpcTarget}`]);
    expect(probe.code).toBe(0);
  });
});
