// Many deadlines, one timer: a binary min-heap of deadlines with a single
// timer armed for the earliest, so ten thousand waiting logins cost one
// timer, not ten thousand. Cancelling removes the deadline at once.

// Node timers hold at most 2^31-1 ms; a later deadline re-arms on the way.
const MAX_TIMER = 2_147_483_647;

interface Slot {
  at: number;
  fire: () => void;
  index: number;
}

export class DeadlineQueue {
  readonly #heap: Slot[] = [];
  #timer: NodeJS.Timeout | undefined;
  #armedFor = Infinity;

  get size(): number {
    return this.#heap.length;
  }

  /** Timers held: 1 while any deadline waits, else 0. */
  get timers(): number {
    return this.#timer ? 1 : 0;
  }

  /** Calls `fire` at `at` (epoch ms) unless the returned cancel runs first. */
  schedule(at: number, fire: () => void): () => void {
    const slot: Slot = { at, fire, index: this.#heap.length };
    this.#heap.push(slot);
    this.#up(slot.index);
    this.#arm();
    return () => {
      if (slot.index < 0) return;
      this.#remove(slot);
      this.#arm();
    };
  }

  clear(): void {
    for (const slot of this.#heap) slot.index = -1;
    this.#heap.length = 0;
    this.#arm();
  }

  #arm(): void {
    const next = this.#heap[0]?.at ?? Infinity;
    if (next === this.#armedFor) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = next;
    if (next === Infinity) return;
    this.#timer = setTimeout(() => this.#due(), Math.min(MAX_TIMER, Math.max(0, next - Date.now())));
  }

  #due(): void {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const now = Date.now();
    const due: Slot[] = [];
    while (this.#heap.length > 0 && this.#heap[0]!.at <= now) {
      const slot = this.#heap[0]!;
      this.#remove(slot);
      due.push(slot);
    }
    this.#arm();
    for (const slot of due) slot.fire();
  }

  #remove(slot: Slot): void {
    const last = this.#heap.pop()!;
    const index = slot.index;
    slot.index = -1;
    if (last === slot) return;
    this.#heap[index] = last;
    last.index = index;
    this.#down(index);
    this.#up(last.index);
  }

  #up(index: number): void {
    const heap = this.#heap;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (heap[parent]!.at <= heap[index]!.at) break;
      this.#swap(index, parent);
      index = parent;
    }
  }

  #down(index: number): void {
    const heap = this.#heap;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < heap.length && heap[left]!.at < heap[smallest]!.at) smallest = left;
      if (right < heap.length && heap[right]!.at < heap[smallest]!.at) smallest = right;
      if (smallest === index) return;
      this.#swap(index, smallest);
      index = smallest;
    }
  }

  #swap(a: number, b: number): void {
    const heap = this.#heap;
    const slotA = heap[a]!;
    const slotB = heap[b]!;
    heap[a] = slotB;
    heap[b] = slotA;
    slotA.index = b;
    slotB.index = a;
  }
}
