import { TorSocksError, TorTimeoutError } from '../../src/errors.js';

/**
 * Retries `open` when tor answers with a SOCKS error, up to `attempts` times in all. For the two
 * places where a real Tor network legitimately fails a first attempt: the first connection to a
 * brand-new onion service (the HSDir asked may not have the descriptor yet, or an intro circuit
 * fails), and a connection right after a relay died (tor may still pick it from the consensus).
 * A timeout (`TorTimeoutError`) counts too: right after a relay died, a stream may wait on a
 * circuit tor has not yet given up on. Any other error is thrown at once.
 */
export async function retryOnSocksError<T>(open: () => Promise<T>, attempts = 3, pauseMs = 2000): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await open();
    } catch (err) {
      if (!(err instanceof TorSocksError || err instanceof TorTimeoutError) || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
}
