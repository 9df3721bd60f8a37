import type net from 'node:net';
import { TorError, TorNotAvailableError } from '../errors.js';
import { atHost, describeSocksAddress, FALLBACK_SOCKS_ADDRESSES, parseSocksHostname, parseSocksPortOption, type SocksAddress } from '../socks/socks-address.js';
import { SOCKS_FAILURE_CODES } from '../socks/socks-errors.js';
import type { TorConnectOptions } from '../socks/socks-types.js';
import { TorSocksClient, type TorFetchInit, type TorResolveOptions } from '../socks/tor-socks-client.js';
import type { OnionServiceOptions } from '../onion/onion-types.js';
import type { TorOnionService } from '../onion/onion-service.js';

/**
 * Whether a failed search for tor may be answered with tor's SOCKS port alone: only when it found
 * no control port at all (TOR_NOT_AVAILABLE, not a refusal or a timeout) and nothing named the tor
 * (`control`, `$TOR_CONTROL`, a `--control`). A named tor is never swapped for whatever listens on
 * 9050: a `$TOR_CONTROL` pointing at a test network that is down must not send its streams to a
 * system tor on the public network.
 * @param namedControl - the control endpoint the caller named, if any (empty counts as none)
 */
export function mayUseSocksOnly(err: unknown, namedControl: string | undefined): err is TorNotAvailableError {
  return !namedControl && err instanceof TorNotAvailableError;
}

/**
 * The way through tor that `connect("tor:...")` takes when no control port can be found: tor's
 * SOCKS port alone. The tor most systems run (Debian's and Fedora's packages, a Homebrew tor)
 * listens for SOCKS on 127.0.0.1:9050 and has no control port; a stream needs nothing else, so
 * such a tor must not be a dead end. Streams go to the endpoint's `socksPort`, else the first of the
 * usual ports that accepts a connection (9050: a system tor, 9150: Tor Browser). It never connects
 * anywhere but a SOCKS port on this machine, and it is used only when the caller named no tor at all
 * (see TorProvider.forStreams).
 *
 * What needs the control port (onion services) is refused with the search that found none.
 */
export class SocksOnlyTor {
  /** The client for the usual ports on 127.0.0.1, and one per other `socksHostname` asked for. */
  private readonly clients = new Map<string, TorSocksClient>();
  private readonly fallback: readonly SocksAddress[];
  private closed = false;

  /**
   * @param noControl - the error of the search for a control port: kept for the messages
   * @param fallbackSocksPorts - the usual SOCKS ports to try, in order (numbers on 127.0.0.1,
   *   strings unix socket paths) @default [9050, 9150]
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a bad port
   */
  constructor(
    private readonly noControl: TorNotAvailableError,
    private readonly fallbackSocksPorts?: readonly (number | string)[],
  ) {
    this.fallback = fallbackSocksPorts ? fallbackSocksPorts.map((p) => parseSocksPortOption(p)) : FALLBACK_SOCKS_ADDRESSES;
    this.clientAt(undefined);
  }

  /**
   * A stream through tor's SOCKS port (see TorSocksClient.connect for the options and errors). A
   * `socksHostname` without `socksPort` is where the usual ports are looked for (tor in another
   * container, say), as it is where the stream then goes.
   * @throws TorNotAvailableError (`TOR_NOT_AVAILABLE`) when no `socksPort` was given and no usual
   *   SOCKS port accepts a connection either: the message names every place tried
   */
  connect(target: { host: string; port: number }, opts: TorConnectOptions = {}): Promise<net.Socket> {
    opts ??= {};
    // Checked before a client is made for it: a bad host is the caller's TOR_INVALID_VALUE.
    const host = opts.socksPort === undefined && opts.socksHostname !== undefined ? parseSocksHostname(opts.socksHostname) : undefined;
    return this.through(opts.socksPort, host, () => this.clientAt(host).connect(target, opts));
  }

  /** `fetch` through tor's SOCKS port (see TorSocksClient.fetch); errors as for {@link connect}. */
  fetch(input: string | URL, init: TorFetchInit = {}): Promise<Response> {
    return this.through(undefined, undefined, () => this.clientAt(undefined).fetch(input, init));
  }

  /** A name resolved by tor (SOCKS RESOLVE; see TorSocksClient.resolve); errors as for {@link connect}. */
  resolve(name: string, opts: TorResolveOptions = {}): Promise<string> {
    return this.through(undefined, undefined, () => this.clientAt(undefined).resolve(name, opts));
  }

  /** An address reverse-resolved by tor (see TorSocksClient.resolvePtr); errors as for {@link connect}. */
  resolvePtr(address: string, opts: TorResolveOptions = {}): Promise<string> {
    return this.through(undefined, undefined, () => this.clientAt(undefined).resolvePtr(address, opts));
  }

  /** The client that looks for the usual ports at `host` (undefined: 127.0.0.1), made once. */
  private clientAt(host: string | undefined): TorSocksClient {
    const key = host ?? '';
    let client = this.clients.get(key);
    // After close(), every call meets a closed client (TOR_SOCKS_CLOSED), whatever its host.
    if (client === undefined && this.closed) return this.clients.get('')!;
    if (client === undefined) {
      client = new TorSocksClient(null, {
        ...(this.fallbackSocksPorts ? { fallbackSocksPorts: this.fallbackSocksPorts } : {}),
        ...(host !== undefined ? { socksHostname: host } : {}),
      });
      this.clients.set(key, client);
    }
    return client;
  }

  /**
   * Runs one SOCKS call. When the usual ports were tried and none answered, the error says so
   * together with the search for a control port: both are where a tor could have been. A
   * `socksPort` the caller named keeps the SOCKS client's own error, which names that port.
   */
  private async through<T>(socksPort: unknown, host: string | undefined, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (socksPort !== undefined || !(err instanceof TorError) || err.code !== SOCKS_FAILURE_CODES.unreachable) throw err;
      const places = this.fallback.map((a) => describeSocksAddress(atHost(a, host)));
      const socksTried = places.map((a) => `SOCKS ${a} (nothing accepts connections)`);
      // No cause: the list says all the SOCKS client's error would, and a CLI prints causes too.
      throw new TorNotAvailableError('no running tor found: no control port, and no SOCKS port', [...this.noControl.tried, ...socksTried]);
    }
  }

  /**
   * @throws TorNotAvailableError (`TOR_NOT_AVAILABLE`): an onion service is made through tor's
   *   control port, and none was found
   */
  async createOnionService(_opts?: OnionServiceOptions): Promise<TorOnionService> {
    throw new TorNotAvailableError('an onion service needs tor\'s control port, and none was found', this.noControl.tried, { cause: this.noControl });
  }

  /** Closes the SOCKS clients (their kept connections; streams already handed out stay open). */
  close(): void {
    this.closed = true;
    for (const client of this.clients.values()) client.close();
  }
}
