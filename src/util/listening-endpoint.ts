/**
 * What every server endpoint returns once it is listening: where it listens and how to stop. It
 * lives in `util` (not in `plugins`) because lower layers implement it too: an onion service is a
 * listening endpoint that the Tor class creates.
 */
export interface ListeningEndpoint {
  /**
   * Where the endpoint can be reached: `host:port` (an IPv6 host in brackets, `[::1]:8080`), the
   * socket path for unix endpoints, `<56 chars>.onion:80` for onion services.
   */
  readonly address: string;
  /** Stops listening. Idempotent: a second call resolves at once. */
  close(): Promise<void>;
  /** `close()`, for `await using endpoint = await listen(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * What a plugin's `listen` resolves with: a {@link ListeningEndpoint} that may leave out
 * `[Symbol.asyncDispose]`, which `listen()` then adds (a plugin written before it existed, or in
 * plain JavaScript, still gives its callers `await using`).
 */
export type PluginListeningEndpoint = Omit<ListeningEndpoint, typeof Symbol.asyncDispose> & Partial<Pick<ListeningEndpoint, typeof Symbol.asyncDispose>>;

