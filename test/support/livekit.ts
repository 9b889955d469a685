// A real livekit-server for a test file, built by .ci/prereqs.sh at the
// version pinned in .ci/tools.env. Each one runs on loopback with a config
// file generated here: our own API key and secret, free ports for signalling
// (HTTP/WebSocket), RTC over TCP and a small UDP range, and webhooks sent to
// the Airlock under test, signed with the same key. Stopped afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { RoomServiceClient } from 'livekit-server-sdk';
import { tempDir } from './settings.ts';

const HOW_TO_INSTALL = 'source .ci/prereqs.sh (it builds livekit-server with go install at the version pinned in .ci/tools.env)';

export interface TestLiveKit {
  /** ws://127.0.0.1:PORT, what clients connect to. */
  url: string;
  /** http://127.0.0.1:PORT, for the server API (RoomService). */
  httpUrl: string;
  apiKey: string;
  apiSecret: string;
  rooms: RoomServiceClient;
  /** Everything the server wrote so far (its log). */
  output(): string;
  /** The AIRLOCK_LIVEKIT_* settings that point an Airlock at this server. */
  airlockEnv(): Record<string, string>;
  stop(): Promise<void>;
}

/** A TCP port nobody listens on right now. */
export async function freeTcpPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function udpPortFree(port: number): Promise<boolean> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '0.0.0.0', () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    await new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

/** `size` consecutive UDP ports that are free now, in the dynamic range. */
async function freeUdpRange(size: number): Promise<{ start: number; end: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const start = 40_000 + Math.floor(Math.random() * 20_000);
    let free = true;
    for (let port = start; port < start + size && free; port++) free = await udpPortFree(port);
    if (free) return { start, end: start + size - 1 };
  }
  throw new Error(`no ${size} consecutive free UDP ports found`);
}

export interface LiveKitOptions {
  /** Where LiveKit posts its webhooks (Airlock's /livekit/webhook). */
  webhookUrls?: string[];
  apiKey?: string;
  apiSecret?: string;
}

export async function startLiveKit(options: LiveKitOptions = {}): Promise<TestLiveKit> {
  const apiKey = options.apiKey ?? `AK${randomBytes(6).toString('hex')}`;
  // LiveKit refuses secrets shorter than 32 characters.
  const apiSecret = options.apiSecret ?? randomBytes(24).toString('base64url');
  const port = await freeTcpPort();
  const tcpPort = await freeTcpPort();
  const udp = await freeUdpRange(16);
  const dir = tempDir('airlock-livekit-');
  const config = [
    `port: ${port}`,
    'bind_addresses: ["127.0.0.1"]',
    'rtc:',
    `  tcp_port: ${tcpPort}`,
    `  port_range_start: ${udp.start}`,
    `  port_range_end: ${udp.end}`,
    '  node_ip: 127.0.0.1',
    '  use_external_ip: false',
    '  enable_loopback_candidate: true',
    'keys:',
    `  ${apiKey}: ${apiSecret}`,
    'logging:',
    '  level: info',
    'room:',
    // Rooms close soon after their last participant leaves, so a test's rooms do not linger.
    '  empty_timeout: 30',
    '  departure_timeout: 5',
    ...(options.webhookUrls?.length
      ? ['webhook:', `  api_key: ${apiKey}`, '  urls:', ...options.webhookUrls.map((url) => `    - ${JSON.stringify(url)}`)]
      : []),
    '',
  ].join('\n');
  const configFile = path.join(dir.path, 'livekit.yaml');
  writeFileSync(configFile, config, { mode: 0o600 });

  const child: ChildProcess = spawn('livekit-server', ['--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new Error(`livekit-server is not on PATH: ${HOW_TO_INSTALL}`) : error),
    );
    child.once('exit', (code) => resolve(code));
  });
  exited.catch(() => {});

  const httpUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited.catch(() => null);
      clearTimeout(timer);
    }
    dir.remove();
  };

  // Serving once its HTTP endpoint answers (GET / is "OK").
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`livekit-server exited with ${child.exitCode} before serving:\n${log}`);
    }
    const ok = await fetch(httpUrl, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`livekit-server did not answer on ${httpUrl} within 30 s:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    url: `ws://127.0.0.1:${port}`,
    httpUrl,
    apiKey,
    apiSecret,
    rooms: new RoomServiceClient(httpUrl, apiKey, apiSecret),
    output: () => log,
    airlockEnv: () => ({
      AIRLOCK_LIVEKIT_URL: `ws://127.0.0.1:${port}`,
      AIRLOCK_LIVEKIT_API_KEY: apiKey,
      AIRLOCK_LIVEKIT_API_SECRET: apiSecret,
    }),
    stop,
  };
}
