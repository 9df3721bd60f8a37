import type net from 'node:net';
import type { ListeningEndpoint } from '../util/listening-endpoint.js';

/**
 * The options and result of creating an onion service: the contract between the `onion:` endpoint
 * plugin (which parses them from an endpoint string) and the Tor class (which implements them).
 */

/** One virtual port of an onion service. */
export interface OnionPortMapping {
  /** The port clients connect to on the `.onion` address (1..65535). */
  virtualPort: number;
  /**
   * Where tor forwards it: `host:port` or `unix:/path`.
   * @default the local address of `server` once it listens
   */
  target?: string;
}

/** A progress report while an onion service is created and its descriptor uploaded. */
export interface OnionProgress {
  /** A short stable phase name, e.g. `listening`, `adding`, `uploading`, `uploaded`. */
  phase: string;
  /** A human-readable message. */
  message: string;
  /** 0..100 when it can be estimated. */
  percent?: number;
}

/** Options of `Tor.createOnionService`. */
export interface OnionServiceOptions {
  /** The virtual ports; at least one. */
  ports: OnionPortMapping[];
  /**
   * The local server that answers the service's connections; made to listen if it is not yet.
   * When it closes, the service is removed from tor.
   */
  server?: net.Server;
  /** Local TCP port for `server`. @default an ephemeral port */
  localPort?: number;
  /** Local IP address for `server`. @default `127.0.0.1` */
  localAddress?: string;
  /** Listen on this unix socket path instead of a TCP port. Exclusive with `localPort`/`localAddress`. */
  localSocket?: string;
  /** An existing key (`ED25519-V3:<base64>`) to recreate a known service. Never logged. */
  privateKey?: string;
  /** A file holding such a key; created with a new key when it does not exist. */
  privateKeyFile?: string;
  /** Use a filesystem service (`HiddenServiceDir`, via SETCONF) instead of an ephemeral one (ADD_ONION). */
  hiddenServiceDir?: string;
  /** Onion service version; only 3 exists since tor 0.4.6. @default 3 */
  version?: 3;
  /** Single-hop (non-anonymous) service: needs `HiddenServiceNonAnonymousMode 1`. @default false */
  singleHop?: boolean;
  /** Names of clients to create client-authorization (x25519) keys for. */
  clientAuth?: string[];
  /**
   * A directory that keeps the clients' public keys across restarts, in the form of tor's
   * `authorized_clients` (`NAME.auth`: `descriptor:x25519:<base32 public key>`): every client with
   * a file there is authorized, with its key from before; a name in `clientAuth` without one gets
   * a new key, whose file is written (0600; the directory 0700) once tor has the service, and
   * removed again when the creation fails (that key reached no one). Not with
   * `hiddenServiceDir` (that keeps its clients in its own `authorized_clients`).
   */
  clientAuthDir?: string;
  /** Maximum concurrent streams per rendezvous circuit (tor's `MaxStreams`, 0 = unlimited). */
  maxStreams?: number;
  /** Close the circuit (instead of the stream) when `maxStreams` is exceeded. @default false */
  maxStreamsCloseCircuit?: boolean;
  /** Keep the service after the control connection closes (ADD_ONION `Detach`). @default false */
  detach?: boolean;
  /** Enable proof-of-work DoS defence (`HiddenServicePoWDefensesEnabled`). @default false */
  pow?: boolean;
  /** Resolve only once at least one descriptor upload succeeded. @default true */
  awaitUpload?: boolean;
  /** Give up waiting for the upload after this many milliseconds (`OnionPublishError`). */
  uploadTimeoutMs?: number;
  /** Called on progress. A listener that throws is ignored. */
  onProgress?: (p: OnionProgress) => void;
  /** Aborts creation (`TorAbortError`); the service is removed again. */
  signal?: AbortSignal;
  /**
   * Gives the whole creation up after this many milliseconds (`TorTimeoutError`): tor's answers and
   * the wait for the upload. The service is removed again. (`uploadTimeoutMs` bounds the upload
   * wait alone and fails with `OnionPublishError`.) A number of milliseconds from 0 to `Infinity`
   * (no limit, as when not given); anything else is refused with `TOR_INVALID_VALUE` before ADD_ONION.
   */
  timeoutMs?: number;
}

/** One client's client-authorization keys (x25519, base32 as tor writes them). */
export interface OnionClientAuthKey {
  name: string;
  publicKey: string;
  /**
   * The client's private key, when it was generated now: give it to that client only. Undefined
   * for a client whose key was already in `clientAuthDir` (or a hiddenServiceDir's
   * `authorized_clients`): its private key is the client's, from before.
   */
  privateKey?: string;
}

/** A running onion service. `address` is `<56 chars>.onion:<first virtual port>`. */
export interface OnionService extends ListeningEndpoint {
  /** `<56 base32 chars>.onion`. */
  readonly hostname: string;
  /** The 56-character service id (the hostname without `.onion`). */
  readonly serviceId: string;
  /**
   * `ED25519-V3:<base64>` unless tor discarded it (or the key came from `hiddenServiceDir`).
   * `| undefined` spelled out: TorOnionService's getter returns it, which consumers compiling with
   * exactOptionalPropertyTypes reject against a bare optional `string`.
   */
  readonly privateKey?: string | undefined;
  /** The authorized clients: those named in `clientAuth`, and those kept in `clientAuthDir`. */
  readonly clientAuth?: OnionClientAuthKey[];
}
