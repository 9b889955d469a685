// Watches whether the database can be used and reports each change, so the
// gRPC health service says NOT_SERVING while PostgreSQL is unreachable and
// SERVING again once it is back. It checks at a fixed interval, and at once
// when a query has just failed on a lost connection.
import pTimeout from 'p-timeout';
import type { Logger } from '../../observability/logger.ts';

export interface LivenessProbeOptions {
  /** Resolves when the database answers; rejects otherwise. */
  check: () => Promise<void>;
  intervalMs: number;
  timeoutMs: number;
  logger: Logger;
  onChange: (healthy: boolean) => void;
}

export class LivenessProbe {
  readonly #options: LivenessProbeOptions;
  #healthy = true;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;

  constructor(options: LivenessProbeOptions) {
    this.#options = options;
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(this.#options.intervalMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** A query failed because the connection was lost: report it now and re-check soon. */
  reportFailure(error: unknown): void {
    if (this.#stopped || !this.#healthy) return;
    this.#set(false, error);
    // One lost connection (say, a terminated backend) need not mean an outage.
    this.#schedule(Math.min(100, this.#options.intervalMs));
  }

  /** Runs one check now (also used by tests). */
  async probe(): Promise<boolean> {
    if (this.#running) {
      await this.#running;
      return this.#healthy;
    }
    this.#running = this.#checkOnce().finally(() => (this.#running = undefined));
    await this.#running;
    return this.#healthy;
  }

  async #checkOnce(): Promise<void> {
    const { timeoutMs } = this.#options;
    try {
      await pTimeout(this.#options.check(), { milliseconds: timeoutMs, message: `no answer within ${timeoutMs} ms` });
      this.#set(true);
    } catch (error) {
      this.#set(false, error);
    }
  }

  #set(healthy: boolean, error?: unknown): void {
    if (this.#stopped || healthy === this.#healthy) return;
    this.#healthy = healthy;
    if (healthy) this.#options.logger.info('database reachable again; serving');
    else this.#options.logger.error({ err: error }, 'database unreachable; health is NOT_SERVING until it returns');
    this.#options.onChange(healthy);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      void this.probe().then(() => this.#schedule(this.#options.intervalMs));
    }, delayMs);
    this.#timer.unref();
  }
}
