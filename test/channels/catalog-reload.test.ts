// SIGHUP re-reads the channel catalog in a running server process: a good
// file is put in force (and enforced on connected participants: see
// livekit-room.test.ts), a bad one is logged and the previous catalog stays.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild, type ChildAirlock } from '../support/airlock.ts';
import { until } from '../support/rooms.ts';
import { tempDir } from '../support/settings.ts';

const all = { publish: true, subscribe: true, publishData: true };
let dir: ReturnType<typeof tempDir>;
let server: ChildAirlock;
let file: string;

beforeAll(async () => {
  dir = tempDir();
  file = path.join(dir.path, 'channels.json');
  writeFileSync(file, JSON.stringify({ channels: [{ id: 'lobby', name: 'Lobby', join: 'signed-in', permissions: all }] }));
  server = await startChild({ AIRLOCK_DATA_DIR: path.join(dir.path, 'data'), AIRLOCK_CHANNELS_FILE: file });
});

afterAll(async () => {
  await server?.stop();
  dir?.remove();
});

const logged = (msg: string) => server.logs.filter((entry) => entry.msg === msg);

describe('SIGHUP', () => {
  it('puts a changed catalog in force', async () => {
    writeFileSync(
      file,
      JSON.stringify({
        channels: [
          { id: 'lobby', name: 'Lobby', join: 'signed-in', permissions: all },
          { id: 'stage', name: 'Stage', join: 'signed-in', permissions: { ...all, publish: false } },
        ],
      }),
    );
    server.process.kill('SIGHUP');
    await until(async () => logged('channel catalog reloaded').length === 1, 'the reload to be logged');
    expect(logged('channel catalog reloaded')[0]).toMatchObject({ channels: 2, catalog: file });
  });

  it('keeps the previous catalog when the file is bad, and keeps serving', async () => {
    writeFileSync(file, '{"channels": [');
    server.process.kill('SIGHUP');
    await until(
      async () => logged('channel catalog not reloaded; the previous one stays in force').length === 1,
      'the refusal to be logged',
    );
    expect(server.process.exitCode).toBeNull();
    expect((await fetch(`http://127.0.0.1:${server.httpPort}/livez`)).status).toBe(200);
  });
});
