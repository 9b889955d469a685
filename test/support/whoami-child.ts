// A second process on a shared session file, for the cross-process tests:
// loads the client on argv[2], prints "ready", waits for a line on stdin,
// then makes one authenticated call and prints its outcome as JSON.
import { createInterface } from 'node:readline';
import { AirlockClient } from '../../client/airlock-client.ts';
import { FileStore } from '../../client/storage/file-store.ts';

const client = new AirlockClient({ store: new FileStore(process.argv[2]!) });
const lines = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
for await (const _ of lines) {
  try {
    const me = await client.whoAmI();
    process.stdout.write(`${JSON.stringify({ ok: true, did: me.did })}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: String(error) })}\n`);
  }
}
client.close();
