import type net from 'node:net';
import { OnionPublishError } from '../errors.js';
import { TorOnionService } from '../onion/onion-service.js';
import type { OnionServiceOptions } from '../onion/onion-types.js';
import { logger } from '../util/log.js';
import type { TorLike } from './plugin-types.js';

const log = logger('onion');

/** First wait after a failed attempt; doubled each time up to {@link MAX_RETRY_MS}. */
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

/** The services that {@link republishWhenLost} looks after. */
const republishing = new WeakSet<TorOnionService>();

/** Whether torcon publishes `endpoint` again when it is lost (an `onion:` endpoint with `republish=true`). */
export function isRepublished(endpoint: object): boolean {
  return republishing.has(endpoint as TorOnionService);
}

/**
 * What an `onion:` endpoint with `republish=true` does after its service is lost (tor died or
 * restarted, or the control connection closed): publish the same service again (its key, ports,
 * clients and server) on whatever tor `findTor` gives now, retrying with backoff until that works
 * or the service or its server is closed, then hand it to `service.republishedAs` (which emits
 * `republished`). Each failed try emits `republishFailed` (the error, the wait before the next try;
 * undefined when it gives up). Each later loss starts it again.
 *
 * @param options - what created the service, as given; its key source and local listener
 *   options are replaced: the key is the service's own, and the server already listens.
 */
export function republishWhenLost(
  service: TorOnionService,
  server: net.Server,
  options: OnionServiceOptions,
  findTor: () => Promise<TorLike>,
): void {
  republishing.add(service);
  const again = optionsToPublishAgain(service, server, options);
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  service.once('close', () => {
    closed = true;
    clearTimeout(timer);
    wake?.();
  });
  const stillWanted = () => !closed && server.listening;
  // The application's only word of a failed attempt; a listener that throws must not end the loop.
  const reportFailure = (error: Error, nextTryMs: number | undefined) => {
    try {
      service.emit('republishFailed', error, nextTryMs);
    } catch (err) {
      log('a republishFailed listener of %s threw: %O', service.address, err);
    }
  };
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });

  const republish = async (): Promise<void> => {
    let delay = FIRST_RETRY_MS;
    while (stillWanted()) {
      try {
        const tor = await findTor();
        const created = await tor.createOnionService(again);
        // Closed meanwhile: the new publication is not wanted either. Another address (the key
        // file replaced meanwhile) is not this service: it goes too, and no retry mends that.
        if (!stillWanted() || !(created instanceof TorOnionService) || created.serviceId !== service.serviceId) {
          const other = stillWanted();
          await created.close();
          if (other) {
            log('publishing %s again gave another address: given up', service.address);
            reportFailure(new OnionPublishError(`publishing ${service.address} again gave another address (was its key file replaced?): torcon gave up`), undefined);
          }
          return;
        }
        service.republishedAs(created);
        log('%s published again', service.address);
        return;
      } catch (err) {
        log('publishing %s again failed (next try in %d ms): %s', service.address, delay, (err as Error).message);
        if (stillWanted()) reportFailure(err instanceof Error ? err : new Error(String(err)), delay);
        await pause(delay);
        delay = Math.min(delay * 2, MAX_RETRY_MS);
      }
    }
  };
  service.on('lost', () => {
    republish().catch((err: unknown) => log('publishing %s again stopped: %O', service.address, err));
  });
}

/**
 * The options that publish `service` again: its own key (a key file gave it; no key would be a new
 * address), and the server as it listens now (the local listener options did their work the first
 * time). The first call's signal, time limit and progress callback are not the later calls'.
 */
function optionsToPublishAgain(service: TorOnionService, server: net.Server, options: OnionServiceOptions): OnionServiceOptions {
  const again: OnionServiceOptions = { ...options, server };
  for (const key of ['privateKey', 'privateKeyFile', 'localPort', 'localAddress', 'localSocket', 'signal', 'timeoutMs', 'onProgress'] as const) delete again[key];
  if (service.privateKey !== undefined) again.privateKey = service.privateKey;
  else if (options.privateKeyFile !== undefined) again.privateKeyFile = options.privateKeyFile;
  return again;
}
