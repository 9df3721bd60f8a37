import os from 'node:os';
import path from 'node:path';
import { startTestNetwork, type TestNetwork } from '../../src/testnet.js';

/**
 * One private test network for the whole integration suite, started on first use and stopped by
 * the root `afterAll` hook (root-hooks.ts). Suites call `await sharedTestNetwork()` in `before`.
 * Starting it sets `TOR_CONTROL`, so that no endpoint in any test launches or finds another tor.
 */
let starting: Promise<TestNetwork> | undefined;

export function sharedTestNetwork(): Promise<TestNetwork> {
  starting ??= startTestNetwork({
    timeoutMs: 180_000,
    // Node keys are cached across runs (ports may change): saves the 2-10 s of key generation.
    reuseKeys: path.join(os.tmpdir(), 'torcon-test-keycache'),
    onProgress: (p) => {
      if (process.env['TORCON_TEST_VERBOSE']) console.error(`    [testnet] ${p.phase} ${p.message}`);
    },
  }).then((network) => {
    Object.assign(process.env, network.env());
    return network;
  });
  return starting;
}

/** Stops the shared network if it was started. */
export async function stopSharedTestNetwork(): Promise<void> {
  if (!starting) return;
  const network = await starting.catch(() => undefined);
  starting = undefined;
  await network?.stop();
}
