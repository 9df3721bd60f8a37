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
}

/**
 * What `listen()` resolves with: the plugin's endpoint, disposable (its `[Symbol.asyncDispose]`
 * is its `close()`), for `await using endpoint = await listen(...)`. A plugin need not provide it:
 * `listen()` adds it.
 */
export type DisposableEndpoint = ListeningEndpoint & AsyncDisposable;
