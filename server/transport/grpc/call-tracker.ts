// Knows every call in flight so shutdown can refuse new ones, let unary calls
// finish and end open streams.
export class CallTracker {
  #draining = false;
  readonly #streams = new Set<AbortController>();

  get draining(): boolean {
    return this.#draining;
  }

  trackStream(controller: AbortController): () => void {
    this.#streams.add(controller);
    return () => this.#streams.delete(controller);
  }

  get openStreams(): number {
    return this.#streams.size;
  }

  /** Refuses new calls and aborts every open stream with reason 'shutdown'. */
  drain(): void {
    this.#draining = true;
    for (const controller of this.#streams) controller.abort('shutdown');
  }
}
