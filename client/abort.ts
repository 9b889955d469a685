// Small AbortSignal helpers shared by the login code.

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason;
}

/** Aborts `target` when `source` aborts; returns the unlink function. */
export function linkAbort(source: AbortSignal | undefined, target: AbortController, reason: () => unknown): () => void {
  if (!source) return () => {};
  const onAbort = () => target.abort(reason());
  if (source.aborted) onAbort();
  else source.addEventListener('abort', onAbort, { once: true });
  return () => source.removeEventListener('abort', onAbort);
}
