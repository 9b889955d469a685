// The LoginEventBus across replicas: publish is a NOTIFY through the shared
// database, and every replica's one LISTEN connection (PgListener) hands the
// event to the streams it holds. Subscribing is a map insert, no query.
// The broker stores a login's result before publishing, and the listener
// tells every subscriber to re-read the store after a reconnection (when
// notifications may have been missed), so no completion is ever lost.
import { sql, type Kysely } from 'kysely';
import type { Logger } from '../observability/logger.ts';
import { metrics } from '../observability/metrics.ts';
import type { Database } from '../storage/schema.ts';
import type { PgListener } from '../storage/postgres/listener.ts';
import type { LoginEvent, LoginEventBus } from './login-events.ts';
import { LoginListeners } from './login-listeners.ts';

export const LOGIN_EVENTS_CHANNEL = 'airlock_login_events';

type Listener = (event: LoginEvent) => void;

interface Wire {
  /** Login reference. */
  r: string;
  /** Event type. */
  t: LoginEvent['type'];
  /** browser-opened time, epoch ms. */
  at?: number;
  /** When it was sent, epoch ms: receivers measure the NOTIFY lag (older senders leave it out). */
  s?: number;
}

export class PgLoginEventBus implements LoginEventBus {
  readonly #db: Kysely<Database>;
  readonly #logger: Logger;
  readonly #listeners = new LoginListeners();
  readonly #release: Array<() => void>;

  constructor(options: { db: Kysely<Database>; listener: PgListener; logger: Logger }) {
    this.#db = options.db;
    this.#logger = options.logger;
    this.#release = [
      options.listener.listen(LOGIN_EVENTS_CHANNEL, (payload) => this.#receive(payload)),
      options.listener.onReconnect(() => this.#resync()),
    ];
  }

  get listenerCount(): number {
    return this.#listeners.count;
  }

  async publish(loginRef: string, event: LoginEvent): Promise<void> {
    const sent = Date.now();
    const wire: Wire =
      event.type === 'browser-opened'
        ? { r: loginRef, t: event.type, at: event.at.getTime(), s: sent }
        : { r: loginRef, t: event.type, s: sent };
    // Delivered to this replica's own listeners too, through the LISTEN connection.
    await sql`select pg_notify(${LOGIN_EVENTS_CHANNEL}, ${JSON.stringify(wire)})`.execute(this.#db);
  }

  subscribe(loginRef: string, listener: Listener): () => void {
    return this.#listeners.subscribe(loginRef, listener);
  }

  async close(): Promise<void> {
    for (const release of this.#release) release();
    this.#listeners.clear();
  }

  #receive(payload: string): void {
    let wire: Wire;
    try {
      wire = JSON.parse(payload) as Wire;
    } catch {
      this.#logger.warn('ignored a malformed login event notification');
      return;
    }
    if (typeof wire !== 'object' || wire === null || typeof wire.r !== 'string') return;
    // Another host's clock may run ahead: a negative lag counts as none.
    if (typeof wire.s === 'number')
      metrics.notifyLagSeconds.observe({ channel: LOGIN_EVENTS_CHANNEL }, Math.max(0, Date.now() - wire.s) / 1000);
    let event: LoginEvent;
    if (wire.t === 'finished') event = { type: 'finished' };
    else if (wire.t === 'browser-opened' && typeof wire.at === 'number') event = { type: 'browser-opened', at: new Date(wire.at) };
    else return;
    this.#listeners.deliver(wire.r, event, this.#reportFailure);
  }

  /** Notifications may have been missed while disconnected: every waiting stream re-reads the store. */
  #resync(): void {
    this.#listeners.deliverToAll({ type: 'finished' }, this.#reportFailure);
  }

  #reportFailure = (error: unknown): void => {
    this.#logger.error({ err: error }, 'login event listener failed');
  };
}
