// One dedicated PostgreSQL connection per process that LISTENs on the
// channels other components ask for and hands NOTIFY payloads to them. It
// reconnects by itself with capped exponential backoff; notifications sent
// while it was away are lost, so after each reconnection it tells its users
// to re-read whatever they were waiting for.
import pTimeout from 'p-timeout';
import pg from 'pg';
import type { Logger } from '../../observability/logger.ts';

export interface PgListenerOptions {
  connectionString: string;
  logger: Logger;
  connectTimeoutMs: number;
  /** Backoff between reconnection attempts: doubles from the first delay up to the cap. */
  reconnectInitialDelayMs?: number;
  reconnectMaxDelayMs: number;
}

type Handler = (payload: string) => void;

export class PgListener {
  readonly #options: PgListenerOptions;
  readonly #handlers = new Map<string, Set<Handler>>();
  readonly #reconnectHandlers = new Set<() => void>();
  #client: pg.Client | undefined;
  /** Channels LISTENed on the current connection. */
  #listening = new Set<string>();
  #closed = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #reconnecting: Promise<void> | undefined;

  constructor(options: PgListenerOptions) {
    this.#options = options;
  }

  /** True while the LISTEN connection is up. */
  get connected(): boolean {
    return this.#client !== undefined;
  }

  /** Connects for the first time; throws if the database cannot be reached. */
  async start(): Promise<void> {
    await this.#connect();
  }

  /** Delivers every payload NOTIFYed on the channel to the handler; returns its removal. Cheap: no query unless the channel is new. */
  listen(channel: string, handler: Handler): () => void {
    let set = this.#handlers.get(channel);
    if (!set) {
      set = new Set();
      this.#handlers.set(channel, set);
      void this.#listenOn(this.#client, channel);
    }
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  /** Called after each reconnection, once every channel is LISTENed again. */
  onReconnect(handler: () => void): () => void {
    this.#reconnectHandlers.add(handler);
    return () => this.#reconnectHandlers.delete(handler);
  }

  /** Round trip on the LISTEN connection, so a silently dead socket is noticed. */
  async ping(timeoutMs: number): Promise<void> {
    const client = this.#client;
    if (!client) throw new Error('the LISTEN connection is down');
    try {
      await pTimeout(client.query('select 1'), {
        milliseconds: timeoutMs,
        message: `the LISTEN connection did not answer within ${timeoutMs} ms`,
      });
    } catch (error) {
      this.#lost(client, error);
      throw error;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    this.#handlers.clear();
    this.#reconnectHandlers.clear();
    await client?.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.#options.connectionString,
      connectionTimeoutMillis: this.#options.connectTimeoutMs,
      keepAlive: true,
      application_name: 'airlock-listener',
    });
    // Until the connection is ours, a failure is only remembered (and fails the attempt below).
    let early: unknown;
    const failed = (error: unknown) => {
      if (this.#client === client) this.#lost(client, error);
      else early ??= error;
    };
    client.on('error', failed);
    client.on('end', () => failed(new Error('the LISTEN connection ended')));
    client.on('notification', (message) => this.#dispatch(message));
    try {
      await client.connect();
      this.#listening = new Set();
      // Channels may be added while we connect: loop until all are LISTENed.
      for (let pending = this.#unlistened(); pending.length > 0; pending = this.#unlistened()) {
        for (const channel of pending) {
          await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
          this.#listening.add(channel);
        }
      }
      if (early) throw early;
    } catch (error) {
      client.removeAllListeners('end');
      client.on('error', () => {});
      await client.end().catch(() => {});
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
  }

  #unlistened(): string[] {
    return [...this.#handlers.keys()].filter((c) => !this.#listening.has(c));
  }

  async #listenOn(client: pg.Client | undefined, channel: string): Promise<void> {
    if (!client || this.#listening.has(channel)) return;
    try {
      this.#listening.add(channel);
      await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
    } catch (error) {
      this.#lost(client, error);
    }
  }

  #dispatch(message: pg.Notification): void {
    const handlers = this.#handlers.get(message.channel);
    if (!handlers || message.payload === undefined) return;
    for (const handler of handlers) {
      try {
        handler(message.payload);
      } catch (error) {
        this.#options.logger.error({ err: error, channel: message.channel }, 'notification handler failed');
      }
    }
  }

  #lost(client: pg.Client, error: unknown): void {
    if (client !== this.#client || this.#closed) return;
    this.#client = undefined;
    client.on('error', () => {});
    void client.end().catch(() => {});
    this.#options.logger.warn({ err: error }, 'database LISTEN connection lost; reconnecting');
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#timer || this.#reconnecting) return;
    const initial = this.#options.reconnectInitialDelayMs ?? 100;
    const ceiling = Math.min(initial * 2 ** this.#attempt, this.#options.reconnectMaxDelayMs);
    // Full jitter, so replicas that lost the database together do not return in lockstep.
    const delay = this.#attempt === 0 ? 0 : Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.#attempt += 1;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#reconnecting = this.#connect().then(
        () => {
          this.#reconnecting = undefined;
          if (this.#closed) return;
          this.#options.logger.info({ attempts: this.#attempt }, 'database LISTEN connection restored');
          this.#attempt = 0;
          for (const handler of this.#reconnectHandlers) {
            try {
              handler();
            } catch (error) {
              this.#options.logger.error({ err: error }, 'reconnect handler failed');
            }
          }
        },
        (error: unknown) => {
          this.#reconnecting = undefined;
          this.#options.logger.debug({ err: error, attempt: this.#attempt }, 'database LISTEN reconnection failed');
          this.#scheduleReconnect();
        },
      );
    }, delay);
    this.#timer.unref();
  }
}
