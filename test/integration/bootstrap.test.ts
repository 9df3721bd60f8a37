import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { connectTor, launchTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import type { BootstrapProgress } from '../../src/process/bootstrap.js';
import { TorLaunchError, TorNetworkDisabledError, TorTimeoutError } from '../../src/errors.js';
import { closedPort } from '../support/closed-port.js';
import { sharedTestNetwork } from '../support/testnet-fixture.js';

describe('tor.bootstrapProgress() and tor.waitForBootstrap() against real tor', function () {
  this.timeout(120_000);

  describe('the private network', () => {
    let client: Tor;
    let joining: Tor | undefined;
    let dirAuthorities: string[];

    before(async function () {
      this.timeout(240_000);
      const network = await sharedTestNetwork();
      client = await connectTor({ control: network.controlEndpoint });
      // The network's own DirAuthority lines (all on 127.0.0.1), for a second client to join it.
      const torrc = await readFile(path.join(network.clientNode.dataDir, 'torrc'), 'utf8');
      dirAuthorities = torrc.split('\n').filter((l) => l.startsWith('DirAuthority ')).map((l) => l.slice('DirAuthority '.length));
      assert.ok(dirAuthorities.length >= 1);
    });

    after(async () => {
      await joining?.close();
      await client?.close();
    });

    it('a bootstrapped client is at 100%, and waiting for it resolves at once', async () => {
      const progress = await client.bootstrapProgress();
      assert.equal(progress.percent, 100);
      assert.equal(progress.tag, 'done');
      const seen: BootstrapProgress[] = [];
      await client.waitForBootstrap({ onProgress: (p) => seen.push(p), timeoutMs: 10_000 });
      assert.deepEqual(seen.map((p) => p.percent), [100]);
    });

    it('a new client: refused while its network is disabled, then followed step by step to 100% once enabled', async () => {
      joining = await launchTor({
        config: {
          TestingTorNetwork: 1,
          UseDefaultFallbackDirs: 0,
          DirAuthority: dirAuthorities,
          PathsNeededToBuildCircuits: 0.67,
          DisableNetwork: 1,
        },
      });
      assert.ok((await joining.bootstrapProgress()).percent < 100);
      await assert.rejects(joining.waitForBootstrap({ timeoutMs: 30_000 }), (e: unknown) => e instanceof TorNetworkDisabledError && e.code === 'TOR_NETWORK_DISABLED');

      await (await joining.getConfig()).set({ DisableNetwork: 0 });
      const seen: number[] = [];
      await joining.waitForBootstrap({ onProgress: (p) => seen.push(p.percent), timeoutMs: 90_000 });
      assert.equal(seen.at(-1), 100);
      assert.ok(seen.length >= 2, `only ${seen.join(', ')}`);
      // Steps come once each and in order; problem reports (which repeat a step) are the only repeats.
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, seen.join(', '));
      assert.equal((await joining.bootstrapProgress()).percent, 100);
      // The control connection carries on: the wait's subscriptions are gone, nothing else changed.
      assert.equal(await joining.control.getInfo('status/circuit-established'), '1');

      // Disabled again, tor still says 100% but carries no traffic: the wait is refused, not resolved.
      await (await joining.getConfig()).set({ DisableNetwork: 1 });
      assert.equal((await joining.bootstrapProgress()).percent, 100);
      await assert.rejects(joining.waitForBootstrap({ timeoutMs: 30_000 }), (e: unknown) => e instanceof TorNetworkDisabledError);
    });
  });

  it("launchTor's timeout while tor bootstraps says so, with tor's progress, not that tor did not start", async () => {
    const closed = await closedPort();
    await assert.rejects(
      launchTor({
        config: {
          TestingTorNetwork: 1,
          UseDefaultFallbackDirs: 0,
          DirAuthority: `nowhere orport=${closed} no-v2 v3ident=${'A'.repeat(40)} 127.0.0.1:${closed} ${'B'.repeat(40)}`,
        },
        waitForBootstrap: true,
        timeoutMs: 4_000,
      }),
      (e: unknown) => {
        assert.ok(e instanceof TorLaunchError, String(e));
        assert.match(e.message, /^tor started but did not bootstrap within 4000 ms \((at \d+%: .*|no progress reported)\)/);
        assert.ok(e.cause instanceof TorTimeoutError);
        return true;
      },
    );
  });

  describe('a tor whose only directory authority (on 127.0.0.1) is not there', () => {
    let tor: Tor;
    before(async () => {
      // A private-network tor that never bootstraps: its one authority's ports refuse connections.
      const closed = await closedPort();
      tor = await launchTor({
        config: {
          TestingTorNetwork: 1,
          UseDefaultFallbackDirs: 0,
          DirAuthority: `nowhere orport=${closed} no-v2 v3ident=${'A'.repeat(40)} 127.0.0.1:${closed} ${'B'.repeat(40)}`,
        },
        waitForBootstrap: false,
      });
    });
    after(async () => {
      await tor?.close();
    });

    it('gives up after timeoutMs with TOR_TIMEOUT saying where tor stopped', async () => {
      await assert.rejects(tor.waitForBootstrap({ timeoutMs: 2_000 }), (e: unknown) => {
        assert.ok(e instanceof TorTimeoutError, String(e));
        assert.match(e.message, /^waiting for tor to bootstrap \(at \d+% \(".*"\)(, last problem: .*)?\) timed out after 2000 ms$/);
        return true;
      });
    });

    it('rejects with TOR_NETWORK_DISABLED when the network is disabled while it waits', async () => {
      let started!: () => void;
      const waiting = new Promise<void>((r) => (started = r));
      const wait = tor.waitForBootstrap({ onProgress: () => started(), timeoutMs: 30_000 });
      await waiting;
      await tor.control.setConf({ DisableNetwork: 1 });
      await assert.rejects(wait, (e: unknown) => e instanceof TorNetworkDisabledError && e.code === 'TOR_NETWORK_DISABLED');
      // Disabled from then on: a new wait is refused at once.
      await assert.rejects(tor.waitForBootstrap(), (e: unknown) => e instanceof TorNetworkDisabledError && /DisableNetwork: 0/.test(e.message));
    });
  });
});
