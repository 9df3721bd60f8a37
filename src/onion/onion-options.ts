import net from 'node:net';
import path from 'node:path';
import { EndpointArgumentError, TorInvalidValueError, type TorError } from '../errors.js';
import { assertCancelOptions } from '../util/abort.js';
import { findUnknownOption, optionKeys, unknownOptionProblem } from '../util/known-options.js';
import type { OnionPortMapping, OnionProgress, OnionServiceOptions } from './onion-types.js';
import { CLIENT_NAME } from './client-auth.js';
import { parseOnionPrivateKey } from './key-file.js';

/** Defaults of {@link OnionServiceOptions}, in one place. */
export const ONION_DEFAULTS = {
  localAddress: '127.0.0.1',
  localPort: 0,
  singleHop: false,
  maxStreamsCloseCircuit: false,
  detach: false,
  pow: false,
  awaitUpload: true,
  /** Uploads take 1-30 s on the real network; a fresh tor may first need its consensus. */
  uploadTimeoutMs: 120_000,
} as const;

/** The options that say where torcon makes a service's server listen. */
export type LocalOption = 'localPort' | 'localAddress' | 'localSocket';
const LOCAL_OPTIONS: readonly LocalOption[] = ['localPort', 'localAddress', 'localSocket'];

/** {@link OnionServiceOptions} checked, with defaults applied. */
export interface ValidOnionOptions {
  ports: OnionPortMapping[];
  server?: net.Server | undefined;
  localAddress: string;
  localPort: number;
  localSocket?: string | undefined;
  /** Which of localPort, localAddress and localSocket the caller gave (not defaults). */
  localGiven: readonly LocalOption[];
  privateKey?: string | undefined;
  privateKeyFile?: string | undefined;
  hiddenServiceDir?: string | undefined;
  singleHop: boolean;
  clientAuth: string[];
  clientAuthDir?: string | undefined;
  maxStreams?: number | undefined;
  maxStreamsCloseCircuit: boolean;
  detach: boolean;
  pow: boolean;
  awaitUpload: boolean;
  uploadTimeoutMs: number;
  onProgress: (p: OnionProgress) => void;
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
}

/**
 * The keys of {@link OnionServiceOptions} and of a port mapping (see optionKeys): in JavaScript a
 * misspelt one (`privatekey`, `targt`) would be ignored, and the service would get a new key or
 * forward to another port than meant.
 */
const ONION_OPTION_KEYS = optionKeys<OnionServiceOptions>({
  ports: true, server: true, localPort: true, localAddress: true, localSocket: true, privateKey: true, privateKeyFile: true,
  hiddenServiceDir: true, version: true, singleHop: true, clientAuth: true, clientAuthDir: true, maxStreams: true,
  maxStreamsCloseCircuit: true, detach: true, pow: true, awaitUpload: true, uploadTimeoutMs: true, onProgress: true, signal: true, timeoutMs: true,
});
const PORT_MAPPING_KEYS = optionKeys<OnionPortMapping>({ virtualPort: true, target: true });

/** A bad option, found while validating; {@link validateOnionOptions} turns it into the caller's error type. */
class OptionProblem {
  constructor(readonly message: string) {}
}

function fail(message: string): never {
  throw new OptionProblem(message);
}

/** The error for a bad option given in code (`tor.createOnionService`): `TOR_INVALID_VALUE`, as every other call's. */
export const programmaticOptionError = (message: string): TorError => new TorInvalidValueError('onion service options', message);

/** The error for a bad option that came from an `onion:` endpoint string: `TOR_ENDPOINT_ARGUMENT`, as the grammar's. */
export const endpointOptionError = (message: string): TorError => new EndpointArgumentError(`onion: ${message}`);

function checkPath(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) fail(`${what} must be a non-empty string`);
  if (/[\r\n\0]/.test(value)) fail(`${what} contains CR, LF or NUL`);
  return value;
}

/**
 * Why tor could not be given `socketPath` (absolute) as a service's target, or undefined: it goes
 * into `Port=` / `HiddenServicePort` as one word, so no spaces, quotes, backslashes or commas.
 */
export function socketPathProblem(socketPath: string): string | undefined {
  const bad = /[\s"\\,]/.exec(socketPath);
  if (bad === null) return undefined;
  const what = /\s/.test(bad[0]) ? 'a space' : bad[0] === '"' ? 'a quote' : bad[0] === ',' ? 'a comma' : 'a backslash';
  return `must be a path without spaces, quotes, backslashes or commas (tor takes it as one word), and ${socketPath} has ${what}`;
}

/** A target tor can take in `Port=` and `HiddenServicePort`: a token without commas. */
function checkTarget(value: unknown, what: string): string {
  if (typeof value !== 'string' || !/^[^\s",\\]+$/.test(value)) {
    fail(`${what} must be "host:port" or "unix:/path" without spaces, quotes, backslashes or commas`);
  }
  return value;
}

/**
 * `unix:PATH` with PATH made absolute against our working directory: tor would resolve a relative
 * one against its own, and every connection to the service would fail.
 */
function absoluteUnixTarget(target: string, what: string): string {
  if (!target.startsWith('unix:') || path.isAbsolute(target.slice(5))) return target;
  return checkTarget(`unix:${path.resolve(target.slice(5))}`, what);
}

/**
 * Checks every option before any I/O and applies {@link ONION_DEFAULTS}.
 * @param invalid - makes the error for a bad option: {@link programmaticOptionError} (the default)
 *   or {@link endpointOptionError}
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`), or what `invalid` makes, naming the bad
 *   option; a private key never appears in the message
 */
export function validateOnionOptions(opts: OnionServiceOptions, invalid: (message: string) => TorError = programmaticOptionError): ValidOnionOptions {
  try {
    return validate(opts);
  } catch (err) {
    if (err instanceof OptionProblem) throw invalid(err.message);
    throw err;
  }
}

function validate(opts: OnionServiceOptions): ValidOnionOptions {
  if (opts === null || typeof opts !== 'object') fail('options must be an object');
  const unknown = findUnknownOption(opts, ONION_OPTION_KEYS);
  if (unknown) fail(`option ${JSON.stringify(unknown.key)} ${unknownOptionProblem(unknown)}`);
  const version = opts.version as unknown;
  if (version !== undefined && version !== 3) {
    if (version === 2 || version === '2') {
      fail('version 2 onion services were removed from tor (0.4.6); use version 3 (the default)');
    }
    fail(`version must be the number 3, got ${typeof version === 'string' ? `the string ${JSON.stringify(version)}` : JSON.stringify(version)}`);
  }
  if (opts.ports !== undefined && !Array.isArray(opts.ports)) fail('ports must be an array of { virtualPort, target? }, e.g. [{ virtualPort: 80 }]');
  if (!Array.isArray(opts.ports) || opts.ports.length === 0) fail('at least one port is needed');
  const ports: OnionPortMapping[] = opts.ports.map((p, i) => {
    const unknownKey = p !== null && typeof p === 'object' ? findUnknownOption(p, PORT_MAPPING_KEYS) : undefined;
    if (unknownKey) fail(`ports[${i}] option ${JSON.stringify(unknownKey.key)} ${unknownOptionProblem(unknownKey)}`);
    const virtualPort = p?.virtualPort;
    if (!Number.isInteger(virtualPort) || virtualPort < 1 || virtualPort > 65535) {
      fail(`ports[${i}].virtualPort must be an integer 1..65535`);
    }
    if (p.target === undefined) return { virtualPort };
    return { virtualPort, target: absoluteUnixTarget(checkTarget(p.target, `ports[${i}].target`), `ports[${i}].target`) };
  });
  const seen = new Set<number>();
  for (const { virtualPort } of ports) {
    if (seen.has(virtualPort)) fail(`virtual port ${virtualPort} is given twice`);
    seen.add(virtualPort);
  }
  if (opts.server === undefined && ports.some((p) => p.target === undefined)) {
    fail('without a server, every port needs a target ("host:port" or "unix:/path")');
  }
  if (opts.server !== undefined && !(opts.server instanceof net.Server)) fail('server must be a net.Server');
  const localGiven = LOCAL_OPTIONS.filter((name) => opts[name] !== undefined);
  // They would do nothing: each port forwards to its own target.
  if (opts.server === undefined && localGiven.length > 0) fail('localPort, localAddress and localSocket say where torcon makes `server` listen: without a server there is none (each port names its target)');

  const exclusive = (a: keyof OnionServiceOptions, b: keyof OnionServiceOptions, why = '') => {
    if (opts[a] !== undefined && opts[b] !== undefined) fail(`${a} and ${b} cannot be used together${why}`);
  };
  exclusive('privateKey', 'privateKeyFile');
  exclusive('privateKey', 'hiddenServiceDir', ' (a hiddenServiceDir holds its own key)');
  exclusive('privateKeyFile', 'hiddenServiceDir', ' (a hiddenServiceDir holds its own key)');
  exclusive('localSocket', 'localPort');
  exclusive('localSocket', 'localAddress');

  const out: ValidOnionOptions = {
    ports,
    server: opts.server,
    localAddress: opts.localAddress ?? ONION_DEFAULTS.localAddress,
    localPort: opts.localPort ?? ONION_DEFAULTS.localPort,
    localGiven,
    singleHop: bool(opts.singleHop, 'singleHop', ONION_DEFAULTS.singleHop),
    clientAuth: [],
    maxStreamsCloseCircuit: bool(opts.maxStreamsCloseCircuit, 'maxStreamsCloseCircuit', ONION_DEFAULTS.maxStreamsCloseCircuit),
    detach: bool(opts.detach, 'detach', ONION_DEFAULTS.detach),
    pow: bool(opts.pow, 'pow', ONION_DEFAULTS.pow),
    awaitUpload: bool(opts.awaitUpload, 'awaitUpload', ONION_DEFAULTS.awaitUpload),
    uploadTimeoutMs: opts.uploadTimeoutMs ?? ONION_DEFAULTS.uploadTimeoutMs,
    onProgress: safeProgress(opts.onProgress),
    signal: opts.signal,
    timeoutMs: opts.timeoutMs,
  };
  if (net.isIP(out.localAddress) === 0) fail('localAddress must be an IPv4 or IPv6 address');
  if (!Number.isInteger(out.localPort) || out.localPort < 0 || out.localPort > 65535) {
    fail('localPort must be an integer 0..65535 (0: any free port)');
  }
  if (opts.localSocket !== undefined) {
    // Absolute, as tor must be given it: tor resolves a relative path against its own working directory.
    out.localSocket = path.resolve(checkPath(opts.localSocket, 'localSocket'));
    const problem = socketPathProblem(out.localSocket);
    if (problem !== undefined) fail(`localSocket ${problem}`);
  }
  if (opts.privateKey !== undefined) out.privateKey = keyOption(opts.privateKey);
  if (opts.privateKeyFile !== undefined) out.privateKeyFile = checkPath(opts.privateKeyFile, 'privateKeyFile');
  if (opts.hiddenServiceDir !== undefined) {
    const dir = checkPath(opts.hiddenServiceDir, 'hiddenServiceDir');
    // tor resolves a relative path against its own working directory, not ours.
    if (!path.isAbsolute(dir)) fail('hiddenServiceDir must be an absolute path');
    out.hiddenServiceDir = path.resolve(dir);
  }
  if (opts.clientAuth !== undefined) {
    if (!Array.isArray(opts.clientAuth)) fail('clientAuth must be an array of client names');
    const names = new Set<string>();
    for (const name of opts.clientAuth) {
      if (typeof name !== 'string' || !CLIENT_NAME.test(name)) {
        fail('clientAuth names must be 1 to 16 letters, digits, "+", "-" or "_"');
      }
      if (names.has(name)) fail(`clientAuth names "${name}" twice`);
      names.add(name);
    }
    out.clientAuth = [...names];
  }
  if (opts.clientAuthDir !== undefined) {
    if (out.hiddenServiceDir !== undefined) {
      fail('clientAuthDir and hiddenServiceDir cannot be used together (a hiddenServiceDir keeps its clients in its own authorized_clients directory, which torcon reads and writes)');
    }
    out.clientAuthDir = path.resolve(checkPath(opts.clientAuthDir, 'clientAuthDir'));
  }
  if (opts.maxStreams !== undefined) {
    if (!Number.isInteger(opts.maxStreams) || opts.maxStreams < 0 || opts.maxStreams > 65535) {
      fail('maxStreams must be an integer 0..65535 (0: unlimited)');
    }
    out.maxStreams = opts.maxStreams;
  }
  if (typeof out.uploadTimeoutMs !== 'number' || !(out.uploadTimeoutMs > 0) || !Number.isFinite(out.uploadTimeoutMs)) {
    fail('uploadTimeoutMs must be a positive number of milliseconds');
  }
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') fail('onProgress must be a function');
  // As for every async call: before the first command is sent (ADD_ONION would otherwise go out).
  assertCancelOptions({ signal: opts.signal, timeoutMs: opts.timeoutMs });
  return out;
}

/** `privateKey` normalized; parseOnionPrivateKey's refusal (worded for both callers) as a bad option. */
function keyOption(value: string): string {
  try {
    return parseOnionPrivateKey(value);
  } catch (err) {
    if (err instanceof EndpointArgumentError) fail(err.message.replace(/^onion: /, ''));
    throw err;
  }
}

function bool(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(`${name} must be true or false`);
  return value;
}

/** A progress callback that can never break creation (the options promise: a throwing listener is ignored). */
function safeProgress(fn: ((p: OnionProgress) => void) | undefined): (p: OnionProgress) => void {
  if (typeof fn !== 'function') return () => undefined;
  return (p) => {
    try {
      fn(p);
    } catch {
      /* ignored by contract */
    }
  };
}
