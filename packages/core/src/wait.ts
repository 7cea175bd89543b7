/**
 * Waits that end early on an AbortSignal. Every wait that listens to a signal removes its
 * listener when it ends, whichever way: a poll loop that waits a thousand times on one signal
 * must not leave a thousand listeners on it (MaxListenersExceededWarning, and a leak).
 */

/** Wait `ms`, or less when `signal` aborts (Ctrl-C ends a poll loop at once). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const release = onAbort(signal, done);
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      release();
      resolve();
    }
  });
}

/**
 * Call `fn` once when `signal` aborts; returns the function that removes the listener (call it
 * when the wait ends). No signal: nothing to remove.
 */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (!signal) return () => undefined;
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}
