import type net from 'node:net';
import type { Readable } from 'node:stream';
import type { CliContext } from './context.js';
import { timerDelay } from '../util/abort.js';

/**
 * Joins stdin and stdout to a stream through tor, netcat style, and resolves once the stream has
 * closed (rejects on a socket error).
 *
 * Why the end of stdin does not end the socket: tor has no half-closed streams. When a client
 * sends FIN, tor ends the whole stream (RELAY_END) and whatever the other side still sends is
 * lost, so `printf "GET / ...\r\n\r\n" | torcon connect` would print nothing. Instead, once stdin
 * has ended, the stream stays open until the other side closes it, until it has been quiet for
 * `quitAfterSeconds` (when given), or until the command is interrupted.
 * @param quitAfterSeconds - after stdin ends, close once no data came for this long; 0 closes at once
 */
export function pipeStdio(
  ctx: CliContext,
  socket: net.Socket,
  quitAfterSeconds: number | undefined,
  stdin: Readable = process.stdin,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let quietTimer: NodeJS.Timeout | undefined;
    let stdinEnded = false;
    const armQuietTimer = () => {
      if (!stdinEnded || quitAfterSeconds === undefined) return;
      clearTimeout(quietTimer);
      // Node fires a delay beyond 2^31-1 ms (24.8 days) after 1 ms: a longer wait is that long.
      quietTimer = setTimeout(() => socket.end(), timerDelay(quitAfterSeconds * 1000));
    };
    const onStdinEnd = () => {
      stdinEnded = true;
      armQuietTimer();
    };
    const onAbort = () => socket.destroy();
    const cleanup = () => {
      clearTimeout(quietTimer);
      stdin.unpipe(socket);
      stdin.off('end', onStdinEnd);
      stdin.pause();
      ctx.signal.removeEventListener('abort', onAbort);
    };

    stdin.pipe(socket, { end: false });
    stdin.once('end', onStdinEnd);
    socket.pipe(ctx.output.out, { end: false });
    socket.on('data', armQuietTimer);
    socket.once('error', (err) => {
      cleanup();
      reject(err);
    });
    socket.once('close', () => {
      cleanup();
      resolve();
    });
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
  });
}
