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

/**
 * Tor's HSDir requery period on a TestingTorNetwork (hs_common.h, REND_HID_SERV_DIR_REQUERY_PERIOD_TESTING):
 * a client that got "not found" from an HSDir does not ask it again for the same descriptor sooner.
 */
const TESTING_HSDIR_REQUERY_MS = 5_000;

/** How long a retried first lookup of an onion service waits: past that requery period. */
export const ONION_RETRY_PAUSE_MS = TESTING_HSDIR_REQUERY_MS + 1_000;

/**
 * The first lookup of a freshly published onion service. On the test network a time period lasts
 * one shared-random run, 24 votes of 10 s: four minutes, so a suite of three minutes crosses a
 * rotation, and a lookup near it can find no descriptor (0xF0) for a few seconds while the service
 * uploads for the new period. Tor asks the responsible HSDirs in turn and answers 0xF0 once none has
 * it, and asks none of them again within the requery period: so each retry waits that out, to ask
 * afresh. Five attempts span about 25 s.
 */
export function retryOnionLookup<T>(open: () => Promise<T>): Promise<T> {
  return retryOnSocksError(open, 5, ONION_RETRY_PAUSE_MS);
}
