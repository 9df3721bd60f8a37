import type net from 'node:net';
import sinon from 'sinon';
import type { TorControl } from '../../src/control/tor-control.js';

/**
 * Records every chunk written to a TorControl's socket (the writes still go through), for tests
 * that check what reached tor and, for refused input, that nothing did. `sinon.restore()` undoes it.
 * @returns the chunks as text, in order (empty it with `written.length = 0`), and the stub
 */
export function recordControlWrites(control: TorControl): { written: string[]; write: sinon.SinonStub } {
  const socket = (control as unknown as { socket: net.Socket }).socket;
  const written: string[] = [];
  const original = socket.write.bind(socket);
  const write = sinon.stub(socket, 'write').callsFake(((chunk: string | Buffer, ...rest: unknown[]) => {
    written.push(String(chunk));
    return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof socket.write);
  return { written, write };
}
