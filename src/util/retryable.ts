/**
 * A cached promise that forgets itself when it fails, so that the next call tries again: `forget`
 * runs on rejection (it clears the cache slot). The rejection still reaches whoever awaits it.
 * @example this.config ??= retryable(TorConfig.create(control), () => (this.config = undefined));
 */
export function retryable<T>(promise: Promise<T>, forget: () => void): Promise<T> {
  promise.catch(forget);
  return promise;
}
