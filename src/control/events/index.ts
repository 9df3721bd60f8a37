/** The typed asynchronous-event layer: types, `parseEvent`, and the GETINFO status-line parsers. */

export * from './event-types.js';
export { parseEvent, parseEventLine } from './parse-event.js';
export { parseCircuitStatusLine } from './circuit-events.js';
export { parseStreamStatusLine } from './stream-events.js';
export { parseAddrMapLine } from './addrmap-event.js';
export { parseOrConnStatusLine } from './bandwidth-events.js';
export { redactEventText } from './redact.js';
