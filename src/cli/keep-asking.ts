import type { Tor } from '../tor/tor.js';

/**
 * Asks tor something small now and then, for the commands that only watch (monitor, events,
 * bootstrap): they send no commands of their own, and a stopped (SIGSTOP) or wedged tor keeps the
 * connection open, so with no question pending the connection's reply timeout would never see the
 * silence, and they would wait without a word. With one, the connection closes as hung and the
 * command exits 1 saying so, as when tor dies. (Not for `serve`: closing the connection would end
 * its onion service, which a tor that is only paused would have kept.)
 * @returns a function that stops asking
 */
function keepAsking(tor: Tor, replyTimeoutMs: number | undefined): () => void {
  if (replyTimeoutMs === 0) return () => undefined;
  // Every 5 s (the default limit is 60 s), more often for a shorter --reply-timeout.
  const every = replyTimeoutMs === undefined ? 5_000 : Math.min(5_000, Math.max(100, Math.floor(replyTimeoutMs / 2)));
  let asking = false;
  const timer = setInterval(() => {
    if (asking) return;
    asking = true;
    // A failure ends the connection, which the command hears of where it waits.
    tor.control
      .getInfo('version')
      .catch(() => undefined)
      .finally(() => (asking = false));
  }, every);
  return () => clearInterval(timer);
}

/** Runs `fn` while asking tor now and then (see keepAsking), with the user's --reply-timeout. */
export async function whileAsking<T>(tor: Tor, replyTimeoutMs: number | undefined, fn: () => Promise<T>): Promise<T> {
  const stop = keepAsking(tor, replyTimeoutMs);
  try {
    return await fn();
  } finally {
    stop();
  }
}
