// What the AwaitLogin streams of this process wait on, shared so that a
// waiting stream costs no timer, no query and no subscription of its own:
// - one watch per login with open streams, holding the one event-bus
//   subscription and the one read of the result for all of them;
// - one interval for every heartbeat, written without reading the store;
// - on the same tick, one query re-reads every watched login, in case an
//   announcement was lost (the store is the truth; the bus only hurries);
// - one timer (a deadline heap) for every login's expiry.
import { UnavailableError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { DeadlineQueue } from './deadline-queue.ts';
import type { LoginEventBus } from '../coordination/login-events.ts';
import type { LoginStore, StoredResult } from './login-store.ts';

export type WatchEvent =
  | { type: 'browser-opened'; at: Date }
  | { type: 'heartbeat'; at: Date }
  /**
   * The login's result. `written`, when present, is called once the stream
   * has sent it (or has ended without sending it): deliver() waits for it.
   */
  | { type: 'result'; result: StoredResult; written?: () => void }
  /** The login's lifetime ended without a result. */
  | { type: 'expired' };

export type WatchSink = (event: WatchEvent) => void;

// Heartbeats written before giving way to other I/O: about a millisecond of work.
const HEARTBEATS_PER_SLICE = 64;

interface Watch {
  ref: string;
  expiresAt: number;
  /** The expiry fired: a stream joining later needs it fired again. */
  expired: boolean;
  sinks: Set<WatchSink>;
  unsubscribe: () => void;
  cancelExpiry: () => void;
  /** A result read is in flight; another was asked for meanwhile. */
  reading: boolean;
  readAgain: boolean;
  /** deliver() handed the result to every stream: an announcement of it needs no read. */
  delivered: boolean;
  /** Streams that have not yet sent a delivered result, and what to call when they have (or leave). */
  unwritten: Map<WatchSink, () => void> | undefined;
}

export interface LoginWatchesOptions {
  store: Pick<LoginStore, 'byRef' | 'progressOf'>;
  bus: LoginEventBus;
  heartbeatInterval: number;
  logger: Logger;
}

export class LoginWatches {
  readonly #o: LoginWatchesOptions;
  readonly #watches = new Map<string, Watch>();
  readonly #expiries = new DeadlineQueue();
  #ticker: NodeJS.Timeout | undefined;
  #ticking = false;
  #streams = 0;

  constructor(options: LoginWatchesOptions) {
    this.#o = options;
  }

  get streams(): number {
    return this.#streams;
  }

  /** Timers held for all streams together: the heartbeat interval and the expiry timer. */
  get timers(): number {
    return (this.#ticker ? 1 : 0) + this.#expiries.timers;
  }

  /** Open streams on this login. */
  streamsOf(ref: string): number {
    return this.#watches.get(ref)?.sinks.size ?? 0;
  }

  /**
   * Adds a stream of the login (expiring at `expiresAt`) to its watch. Events
   * reach `sink` from now on, so read the store after joining to miss
   * nothing. Returns the function that takes the stream out again.
   */
  join(ref: string, expiresAt: number, sink: WatchSink): () => void {
    let watch = this.#watches.get(ref);
    if (!watch) watch = this.#open(ref, expiresAt);
    else if (watch.expired) this.#scheduleExpiry(watch);
    watch.sinks.add(sink);
    this.#streams += 1;
    const joined = watch;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.#streams -= 1;
      joined.sinks.delete(sink);
      joined.unwritten?.get(sink)?.();
      if (joined.sinks.size === 0) this.#close(joined);
    };
  }

  /**
   * Hands a result just stored by this process straight to the login's
   * streams here, without the event bus or a read of the store, and resolves
   * once every one of them has sent it (or ended), or after `waitMs` at most:
   * the OAuth callback answers the browser after that, so the app hears
   * first. Streams on other replicas still learn it through the bus.
   */
  deliver(ref: string, result: StoredResult, waitMs: number): Promise<void> {
    const watch = this.#watches.get(ref);
    if (!watch || watch.sinks.size === 0) return Promise.resolve();
    watch.delivered = true;
    const unwritten = new Map<WatchSink, () => void>();
    watch.unwritten = unwritten;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(finish, waitMs);
      function finish() {
        clearTimeout(timer);
        unwritten.clear();
        resolve();
      }
      for (const sink of watch.sinks) {
        unwritten.set(sink, () => {
          if (unwritten.delete(sink) && unwritten.size === 0) finish();
        });
      }
      for (const sink of [...watch.sinks]) sink({ type: 'result', result, written: () => unwritten.get(sink)?.() });
    });
  }

  /** Ends every watch (shutdown); streams still open get nothing more. */
  close(): void {
    for (const watch of [...this.#watches.values()]) this.#close(watch);
    this.#expiries.clear();
  }

  #open(ref: string, expiresAt: number): Watch {
    const watch: Watch = {
      ref,
      expiresAt,
      expired: false,
      sinks: new Set(),
      unsubscribe: () => {},
      cancelExpiry: () => {},
      reading: false,
      readAgain: false,
      delivered: false,
      unwritten: undefined,
    };
    this.#watches.set(ref, watch);
    watch.unsubscribe = this.#o.bus.subscribe(ref, (event) => {
      if (event.type === 'browser-opened') this.#send(watch, { type: 'browser-opened', at: event.at });
      else if (!watch.delivered) this.#readResult(watch);
    });
    this.#scheduleExpiry(watch);
    if (!this.#ticker) this.#ticker = setInterval(() => void this.#tick(), this.#o.heartbeatInterval);
    return watch;
  }

  #scheduleExpiry(watch: Watch): void {
    watch.expired = false;
    watch.cancelExpiry = this.#expiries.schedule(watch.expiresAt, () => {
      watch.expired = true;
      void this.#expire(watch);
    });
  }

  #close(watch: Watch): void {
    if (this.#watches.get(watch.ref) !== watch) return;
    this.#watches.delete(watch.ref);
    watch.unsubscribe();
    watch.cancelExpiry();
    if (this.#watches.size === 0) {
      clearInterval(this.#ticker);
      this.#ticker = undefined;
    }
  }

  /**
   * One heartbeat for every stream, in slices that give way to other I/O in
   * between: ten thousand writes at once would hold up every other call.
   */
  async #heartbeat(): Promise<void> {
    const heartbeat: WatchEvent = { type: 'heartbeat', at: new Date() };
    let sent = 0;
    for (const watch of [...this.#watches.values()]) {
      if (this.#watches.get(watch.ref) !== watch) continue;
      this.#send(watch, heartbeat);
      sent += watch.sinks.size;
      if (sent >= HEARTBEATS_PER_SLICE) {
        sent = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  #send(watch: Watch, event: WatchEvent): void {
    for (const sink of watch.sinks) sink(event);
  }

  /** "Finished" was announced: one read of the result for every stream of the login. */
  #readResult(watch: Watch): void {
    if (watch.reading) {
      watch.readAgain = true;
      return;
    }
    watch.reading = true;
    void (async () => {
      do {
        watch.readAgain = false;
        try {
          const record = await this.#o.store.byRef(watch.ref);
          if (record?.result) this.#send(watch, { type: 'result', result: record.result });
        } catch (error) {
          // The next tick's re-read delivers it.
          if (!(error instanceof UnavailableError))
            this.#o.logger.warn({ err: error, login: watch.ref.slice(0, 8) }, 'could not read a finished login');
        }
      } while (watch.readAgain);
      watch.reading = false;
    })();
  }

  async #expire(watch: Watch): Promise<void> {
    // A completion may have landed just before the expiry.
    let result: StoredResult | null = null;
    try {
      result = (await this.#o.store.byRef(watch.ref))?.result ?? null;
    } catch (error) {
      if (!(error instanceof UnavailableError))
        this.#o.logger.warn({ err: error, login: watch.ref.slice(0, 8) }, 'could not read an expiring login');
    }
    this.#send(watch, result ? { type: 'result', result } : { type: 'expired' });
  }

  /**
   * Every stream gets its heartbeat, stamped with the tick's time; then one
   * query re-reads all watched logins. A tick still reading when the next
   * comes lets that one send heartbeats only.
   */
  async #tick(): Promise<void> {
    if (this.#ticking) {
      // Still busy with the last tick (a slow database): heartbeats only.
      await this.#heartbeat();
      return;
    }
    this.#ticking = true;
    try {
      await this.#heartbeat();
      if (this.#watches.size === 0) return;
      const progress = await this.#o.store.progressOf([...this.#watches.keys()]);
      for (const found of progress) {
        const watch = this.#watches.get(found.ref);
        if (!watch) continue;
        if (found.browserOpenedAt !== null) this.#send(watch, { type: 'browser-opened', at: new Date(found.browserOpenedAt) });
        if (found.result) this.#send(watch, { type: 'result', result: found.result });
      }
    } catch (error) {
      // While the database is away, streams stay open on heartbeats alone.
      if (!(error instanceof UnavailableError)) this.#o.logger.warn({ err: error }, 'the periodic re-read of waiting logins failed');
    } finally {
      this.#ticking = false;
    }
  }
}
