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

/** How long the process may live after the last hook before leftover handles count as a leak. */
const LEAK_GRACE_MS = 20_000;

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(30_000);
    await stopSharedTestNetwork();
    // mocha runs without --exit: the run ends only when nothing is left open. Should a socket or a
    // timer leak, fail loudly, naming what is left, instead of hanging CI. (unref: this timer alone
    // never keeps the process alive.)
    setTimeout(() => {
      console.error(`test run: still alive ${LEAK_GRACE_MS / 1000} s after the last test; leaked: ${process.getActiveResourcesInfo().join(', ')}`);
      process.exit(1);
    }, LEAK_GRACE_MS).unref();
    if (unhandled.length > 0) {
      throw new Error(`unhandled promise rejections during the run: ${unhandled.map(String).join('; ')}`);
    }
  },
};
