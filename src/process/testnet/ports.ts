import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { TorInvalidValueError, TorLaunchError } from '../../errors.js';
import { throwIfAborted } from '../../util/abort.js';

/**
 * Free TCP ports on 127.0.0.1 for the nodes of a private test network.
 *
 * Why not simply `listen(0)`: the kernel hands those out of the ephemeral range, the same range it
 * uses for the source ports of outgoing connections. Nodes start a few milliseconds apart and
 * connect to each other at once, so a node's outgoing connection could sit on a port another node
 * is about to bind. We therefore pick ports below the ephemeral range and probe each one.
 *
 * Ports handed out stay reserved inside this process until released, so two networks started
 * together by one process never receive the same port.
 */

const reserved = new Set<number>();

/** Where automatic allocation looks when the ephemeral range leaves enough room below it. */
const AUTO_LOW = 20000;
const AUTO_SPAN = 10000;

/** A set of ports reserved for one network; `release()` makes them available again in-process. */
export interface PortLease {
  /** The ports, in allocation order. */
  readonly ports: readonly number[];
  /** Forgets the in-process reservation (the sockets themselves were never kept open). */
  release(): void;
}

/** True when something can listen on 127.0.0.1:port right now. */
export function probePort(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    // exclusive: never share a listening socket with a cluster primary
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** Lower bound of the kernel's ephemeral port range (32768 when it cannot be read). */
async function ephemeralLow(): Promise<number> {
  try {
    const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
    const low = Number(text.trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

/**
 * Reserves `count` free loopback ports.
 *
 * @param count - how many ports (1..1000)
 * @param opts.portBase - use exactly `portBase .. portBase+count-1`; any busy port is an error
 * @param opts.signal - aborts the search
 * @returns the ports and a `release()` for the in-process reservation
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a bad count or portBase
 * @throws TorLaunchError (`TOR_LAUNCH_FAILED`) when a fixed port is busy or no free ports are found
 */
export async function allocatePorts(
  count: number,
  opts: { portBase?: number; signal?: AbortSignal } = {},
): Promise<PortLease> {
  if (!Number.isInteger(count) || count < 1 || count > 1000) {
    throw new TorInvalidValueError('port count', 'must be an integer from 1 to 1000');
  }
  const ports: number[] = [];
  const lease = (): PortLease => {
    for (const p of ports) reserved.add(p);
    let released = false;
    return {
      ports,
      release() {
        if (released) return;
        released = true;
        for (const p of ports) reserved.delete(p);
      },
    };
  };

  if (opts.portBase !== undefined) {
    const base = opts.portBase;
    if (!Number.isInteger(base) || base < 1024 || base + count - 1 > 65535) {
      throw new TorInvalidValueError('portBase', `must be an integer with 1024 <= portBase and portBase+${count - 1} <= 65535`);
    }
    for (let p = base; p < base + count; p++) {
      throwIfAborted(opts.signal, 'port allocation');
      if (reserved.has(p) || !(await probePort(p))) {
        throw new TorLaunchError(`port 127.0.0.1:${p} (from portBase ${base}) is already in use`);
      }
      ports.push(p);
    }
    return lease();
  }

  const eLow = await ephemeralLow();
  let low = AUTO_LOW;
  let span = AUTO_SPAN;
  if (eLow - 1 < AUTO_LOW + count) {
    // unusual kernel settings: search whatever lies between 10000 and the ephemeral range
    low = 10000;
    span = Math.max(0, eLow - low);
  }
  if (span < count * 2) {
    // no room below the ephemeral range: fall back to kernel-chosen ports
    while (ports.length < count) {
      throwIfAborted(opts.signal, 'port allocation');
      const p = await kernelPort();
      if (!reserved.has(p) && !ports.includes(p)) ports.push(p);
    }
    return lease();
  }
  // A random starting point keeps separate processes from probing the same ports in lockstep.
  const start = low + Math.floor(Math.random() * span);
  for (let i = 0; i < span && ports.length < count; i++) {
    throwIfAborted(opts.signal, 'port allocation');
    const p = low + ((start - low + i) % span);
    if (reserved.has(p)) continue;
    if (await probePort(p)) ports.push(p);
  }
  if (ports.length < count) {
    throw new TorLaunchError(`could not find ${count} free ports on 127.0.0.1 between ${low} and ${low + span - 1}`);
  }
  return lease();
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}
