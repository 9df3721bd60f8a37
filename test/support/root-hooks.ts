import { stopSharedTestNetwork } from './testnet-fixture.js';

/**
 * Root hooks for the whole mocha run:
 * - `TORCON_REQUIRE_OFFLINE=1` makes `launchTor` refuse any config that could reach the public
 *   network (only `DisableNetwork 1` or the private test network pass);
 * - any unhandled rejection fails the run (rule: no unhandled rejection, ever);
 * - the shared test network, if a suite started it, is stopped at the end.
 */
process.env['TORCON_REQUIRE_OFFLINE'] = '1';

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => {
  unhandled.push(reason);
});

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(30_000);
    await stopSharedTestNetwork();
    if (unhandled.length > 0) {
      throw new Error(`unhandled promise rejections during the run: ${unhandled.map(String).join('; ')}`);
    }
  },
};
