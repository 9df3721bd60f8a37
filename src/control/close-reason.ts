import { TorControlClosedError } from '../errors.js';

/**
 * What to say of a control connection's end, from what its `'close'` event gave: the connection's
 * own TorControlClosedError says it already (`the Tor control connection closed: connection closed
 * by tor`); any other error (a reset, garbage from tor) is named after the same words; none is a
 * plain end. Everything that waits on the connection (a TorState, an events() iterator, onion
 * services) reports its end in these words, so a crash reads the same wherever it surfaces.
 */
export function controlCloseReason(error?: Error): string {
  if (error instanceof TorControlClosedError) return error.message;
  return `the Tor control connection closed${error?.message ? `: ${error.message}` : ''}`;
}
