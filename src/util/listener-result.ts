/**
 * What a listener returned: an async listener returns a promise, and when it rejects nobody awaits
 * it. Callers of listeners use this to route that rejection where they report a throw, instead of
 * leaving it unhandled (which ends a Node process by default).
 */
export function onListenerRejection(result: unknown, report: (err: unknown) => void): void {
  if (result === undefined || result === null) return;
  if (typeof result !== 'object' && typeof result !== 'function') return;
  const then = (result as { then?: unknown }).then;
  if (typeof then === 'function') then.call(result, undefined, report);
}
