import assert from 'node:assert/strict';

/** How a promise ended, as a value. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** The outcome of `p` as a promise that never rejects (taken at once: no rejection goes unobserved). */
export function outcome<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value): Settled<T> => ({ ok: true, value }),
    (error: unknown): Settled<T> => ({ ok: false, error }),
  );
}

/** Waits for an outcome (see {@link outcome}), failing the test if it takes longer than `ms`. */
export async function within<T>(settled: Promise<Settled<T>>, ms: number, what: string): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  const r = await Promise.race([settled, late]);
  clearTimeout(timer);
  if (r === 'late') assert.fail(`${what} did not settle within ${ms} ms`);
  return r;
}

/** Waits for `p` to settle, failing the test if that takes longer than `ms`. */
export function settleWithin<T>(p: Promise<T>, ms: number, what: string): Promise<Settled<T>> {
  return within(outcome(p), ms, what);
}

/**
 * Polls `done` until it holds, failing the test with `what` after `ms`: for what arrives over a
 * socket or a timer, where no event says when.
 */
export async function waitUntil(done: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`${what}: not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Whether a process with this pid exists (signal 0 checks without signalling). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
