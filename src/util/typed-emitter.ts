import { EventEmitter } from 'node:events';

/** A listener method of {@link TypedEmitter}: one of the map's events, with its arguments. */
type Subscribe<E, This> = <K extends keyof E & string>(event: K, listener: (...args: E[K] extends unknown[] ? E[K] : never) => unknown) => This;

/**
 * An EventEmitter whose listener methods accept only the events of its map `E`. Node's own typing
 * (`EventEmitter<E>`) also takes any other name and gives that listener `any` arguments, so a
 * misspelt event (`'circuitbuilt'`) compiled and never fired; here it does not compile. Only the
 * types differ (declared below, merged into the class): at run time these are EventEmitter's own.
 */
export class TypedEmitter<E extends Record<keyof E, unknown[]>> extends EventEmitter {}

// Declaration merging: these signatures replace EventEmitter's for TypedEmitter and its subclasses.
export interface TypedEmitter<E extends Record<keyof E, unknown[]>> {
  on: Subscribe<E, this>;
  once: Subscribe<E, this>;
  off: Subscribe<E, this>;
  addListener: Subscribe<E, this>;
  removeListener: Subscribe<E, this>;
  prependListener: Subscribe<E, this>;
  prependOnceListener: Subscribe<E, this>;
}
