import { EventEmitter } from 'node:events';

/**
 * An EventEmitter whose listener methods accept only the events of its map `E`. Node's own typing
 * (`EventEmitter<E>`) also takes any other name and gives that listener `any` arguments, so a
 * misspelt event (`'circuitbuilt'`) compiled and never fired; here it does not compile. Only the
 * types differ from EventEmitter: each method passes its arguments on unchanged.
 */
export class TypedEmitter<E extends Record<keyof E, unknown[]>> extends EventEmitter {
  override on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => unknown): this {
    return super.on(event as never, listener as never);
  }

  override once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => unknown): this {
    return super.once(event as never, listener as never);
  }

  override off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => unknown): this {
    return super.off(event as never, listener as never);
  }

  override addListener<K extends keyof E & string>(event: K, listener: (...args: E[K]) => unknown): this {
    return super.addListener(event as never, listener as never);
  }

  override removeListener<K extends keyof E & string>(event: K, listener: (...args: E[K]) => unknown): this {
    return super.removeListener(event as never, listener as never);
  }

  override prependListener<K extends keyof E & string>(event: K, listener: (...args: E[K]) => unknown): this {
    return super.prependListener(event as never, listener as never);
  }

  override prependOnceListener<K extends keyof E & string>(event: K, listener: (...args: E[K]) => unknown): this {
    return super.prependOnceListener(event as never, listener as never);
  }
}
