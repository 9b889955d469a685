// Holds the PDS's answers to chosen requests, so a test can hit a timing
// window for sure (a callback in the middle of its code exchange) instead of
// by luck. The PDS still handles the request at once (so a token request
// spends the code), but its answer leaves only when the test releases it.
import { once, EventEmitter } from 'node:events';
import type http from 'node:http';
import type { TestPds } from './pds.ts';

export interface PdsHold {
  /** Answers held so far (waiting or released). */
  readonly count: number;
  /** Resolves when `n` matching answers have been held (1 by default). */
  held(n?: number): Promise<void>;
  /** Lets every held answer go, and the ones to come through unheld. */
  release(): void;
  /** Stops holding (releases what waits) and restores the PDS. */
  dispose(): void;
}

type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * Holds the answers of the PDS requests `match` picks, until release().
 * `answered` picks among the finished answers (default: successful ones, so
 * a DPoP nonce challenge passes and the real token answer is held).
 */
export function holdPdsAnswers(
  pds: TestPds,
  match: (req: http.IncomingMessage) => boolean,
  answered: (res: http.ServerResponse) => boolean = (res) => res.statusCode < 400,
): PdsHold {
  const server = pds.network.pds.server.server;
  if (!server) throw new Error('the PDS is not listening');
  const original = server.listeners('request') as Listener[];
  const events = new EventEmitter();
  let count = 0;
  let released = false;
  const waiting: Array<() => void> = [];

  const holding: Listener = (req, res) => {
    if (!released && match(req)) {
      // Writes wait with the answer; whether it is held is decided once it is complete.
      const { write, end } = res;
      const queue: Array<() => void> = [];
      const flush = () => {
        for (const go of queue.splice(0)) go();
      };
      res.write = ((...args: Parameters<typeof write>) => {
        if (released) return write.apply(res, args);
        queue.push(() => write.apply(res, args));
        return true;
      }) as typeof write;
      res.end = ((...args: Parameters<typeof end>) => {
        queue.push(() => end.apply(res, args));
        if (released || !answered(res)) flush();
        else {
          count += 1;
          waiting.push(flush);
          events.emit('held');
        }
        return res;
      }) as typeof end;
    }
    for (const listener of original) listener.call(server, req, res);
  };
  server.removeAllListeners('request');
  server.on('request', holding);

  const release = () => {
    released = true;
    for (const go of waiting.splice(0)) go();
  };
  return {
    get count() {
      return count;
    },
    async held(n = 1) {
      while (count < n) await once(events, 'held');
    },
    release,
    dispose() {
      release();
      server.removeListener('request', holding);
      for (const listener of original) server.on('request', listener);
    },
  };
}

/** Matches the authorization server's token endpoint (code exchange and refresh). */
export const tokenRequests = (req: http.IncomingMessage) => req.method === 'POST' && (req.url ?? '').startsWith('/oauth/token');
