import { openTorControl } from '../../src/control/transport.js';
import type { TorControl } from '../../src/control/tor-control.js';
import { FakeControlServer } from './fake-control-server.js';

/**
 * Gives each test of the calling `describe` a fresh fake control port and a TorControl connected to
 * it, handed to `use` before the test runs; both are closed after it.
 * @param use - receives them (typically assigning the describe's `fake` and `control` variables)
 * @param prepare - scripts the fake before the connection opens (e.g. answers to PROTOCOLINFO)
 * @example
 * let fake: FakeControlServer;
 * let control: TorControl;
 * fakeControlPerTest((f, c) => ((fake = f), (control = c)));
 */
export function fakeControlPerTest(
  use: (fake: FakeControlServer, control: TorControl) => void,
  prepare?: (fake: FakeControlServer) => void,
): void {
  let fake: FakeControlServer | undefined;
  let control: TorControl | undefined;
  beforeEach(async () => {
    fake = await FakeControlServer.start();
    prepare?.(fake);
    ({ control } = await openTorControl(fake.endpoint));
    use(fake, control);
  });
  afterEach(async () => {
    control?.destroy();
    await fake?.close();
    fake = undefined;
    control = undefined;
  });
}
