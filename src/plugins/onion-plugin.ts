import type net from 'node:net';
import path from 'node:path';
import { EndpointArgumentError } from '../errors.js';
import type { ParsedEndpoint } from '../util/endpoint-grammar.js';
import type { OnionServiceOptions } from '../onion/onion-types.js';
import type { EndpointContext, EndpointPlugin, ListeningEndpoint } from './plugin-types.js';
import {
  collectArgs,
  exclusive,
  parseBoolean,
  parseFilePath,
  parseInteger,
  parseIpAddress,
  parsePort,
  parseSeconds,
  parseUnixPath,
  required,
  showValue,
  type ArgSpec,
} from './arg-validation.js';
import { parseControlOption } from './control-option.js';
import { resolveTor } from './tor-plugin.js';
import { republishWhenLost } from './republish.js';
import { TorOnionService } from '../onion/onion-service.js';
import { endpointOptionError, socketPathProblem, validateOnionOptions } from '../onion/onion-options.js';

/**
 * `onion:` server endpoints: make a `net.Server` reachable as a v3 onion service.
 *
 *   onion:PORT[:localPort=N][:localAddress=A][:localSocket=/path][:control=ENDPOINT|controlPort=N|/path]
 *         [:privateKey=K|privateKeyFile=F][:hiddenServiceDir=D][:version=3][:singleHop=true]
 *         [:clientAuth=NAME,...][:clientAuthDir=D][:maxStreams=N][:maxStreamsCloseCircuit=true][:detach=true][:pow=true]
 *         [:awaitUpload=true][:uploadTimeout=SECONDS][:republish=true]
 */

/** The parsed form of an `onion:` endpoint. */
export interface OnionServerOptions {
  /** Everything for `TorLike.createOnionService` except `server` and `signal` (from the call). */
  service: Omit<OnionServiceOptions, 'server' | 'signal' | 'timeoutMs' | 'onProgress'>;
  /** Control endpoint of the tor to use (from `control=`/`controlPort=`). */
  control?: string;
  /** Publish the service again, under the same address, whenever tor drops it (see republish.ts). */
  republish?: boolean;
}

const SPEC: ArgSpec = {
  what: 'onion:',
  positional: ['port'],
  keywords: [
    'localPort',
    'localAddress',
    'localSocket',
    'control',
    'controlPort',
    'privateKey',
    'privateKeyFile',
    'hiddenServiceDir',
    'version',
    'singleHop',
    'clientAuth',
    'clientAuthDir',
    'maxStreams',
    'maxStreamsCloseCircuit',
    'detach',
    'pow',
    'awaitUpload',
    'uploadTimeout',
    'republish',
  ],
  usage: 'onion:PORT[:localPort=N][:privateKeyFile=F][:keyword=value...]',
};

/**
 * Checks and normalizes an ADD_ONION key: `ED25519-V3:<base64 of 64 bytes>` (the prefix may be
 * left out). The key never appears in any message.
 */
function parsePrivateKey(value: string): string {
  const colon = value.indexOf(':');
  const type = colon >= 0 ? value.slice(0, colon).toUpperCase() : 'ED25519-V3';
  const blob = colon >= 0 ? value.slice(colon + 1) : value;
  if (type === 'RSA1024') {
    throw new EndpointArgumentError(
      'onion: privateKey is an RSA1024 (version 2) key; tor no longer supports v2 onion services',
    );
  }
  if (type !== 'ED25519-V3') {
    throw new EndpointArgumentError('onion: privateKey must be an ED25519-V3 key ("ED25519-V3\\:<base64>")');
  }
  const valid = /^[A-Za-z0-9+/]{86}==$|^[A-Za-z0-9+/]{86}$/.test(blob) && Buffer.from(blob, 'base64').length === 64;
  if (!valid) {
    throw new EndpointArgumentError(
      'onion: privateKey must be "ED25519-V3\\:" followed by the base64 of a 64-byte expanded ed25519 key',
    );
  }
  return `ED25519-V3:${blob}`;
}

/** Client names label client-authorization keys; the v2-era rule keeps them file- and wire-safe. */
function parseClientAuth(value: string): string[] {
  const names = value.split(',');
  const seen = new Set<string>();
  for (const name of names) {
    if (!/^[A-Za-z0-9+_-]{1,16}$/.test(name)) {
      throw new EndpointArgumentError(
        `onion: clientAuth must be a comma-separated list of names of 1 to 16 letters, digits, "+", "-" or "_", got ${showValue(name)}`,
      );
    }
    if (seen.has(name)) throw new EndpointArgumentError(`onion: clientAuth names "${name}" twice`);
    seen.add(name);
  }
  return names;
}

/**
 * Parses and validates an `onion:` endpoint without any I/O.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`): unknown keyword, bad port, CR/LF/NUL,
 *   `version` other than 3 (v2 is gone from tor), `privateKey` with `privateKeyFile`, a key or key
 *   file with `hiddenServiceDir`, `localSocket` with `localPort`/`localAddress`, `control` with
 *   `controlPort`. Messages never contain the private key.
 * @example
 * parseOnionServerOptions(parseEndpoint('onion:80:privateKeyFile=/k:clientAuth=alice'))
 * // { service: { ports: [{ virtualPort: 80 }], privateKeyFile: '/k', clientAuth: ['alice'] } }
 */
export function parseOnionServerOptions(endpoint: ParsedEndpoint): OnionServerOptions {
  const { named, keywords: k } = collectArgs(endpoint, SPEC);
  const virtualPort = parsePort(required(named.port, 'port', SPEC), 'onion: port');
  const service: OnionServerOptions['service'] = { ports: [{ virtualPort }] };

  if (k.version !== undefined) {
    if (k.version === '2') {
      throw new EndpointArgumentError(
        'onion: version=2: version 2 onion services were removed from tor (0.4.6); use version=3 or leave it out',
      );
    }
    if (k.version !== '3') throw new EndpointArgumentError(`onion: version must be 3, got ${showValue(k.version)}`);
    service.version = 3;
  }
  exclusive('onion:', k, 'privateKey', 'privateKeyFile');
  exclusive('onion:', k, 'privateKey', 'hiddenServiceDir', 'a hiddenServiceDir holds its own key');
  exclusive('onion:', k, 'privateKeyFile', 'hiddenServiceDir', 'a hiddenServiceDir holds its own key');
  exclusive('onion:', k, 'localSocket', 'localPort');
  exclusive('onion:', k, 'localSocket', 'localAddress');
  exclusive('onion:', k, 'clientAuthDir', 'hiddenServiceDir', 'a hiddenServiceDir keeps its clients in its own authorized_clients');

  // 0 is any free port, as for createOnionService (and as when it is left out).
  if (k.localPort !== undefined) service.localPort = parsePort(k.localPort, 'onion: localPort', true);
  if (k.localAddress !== undefined) service.localAddress = parseIpAddress(k.localAddress, 'onion: localAddress');
  if (k.localSocket !== undefined) {
    service.localSocket = parseUnixPath(k.localSocket, 'onion: localSocket');
    const problem = socketPathProblem(path.resolve(service.localSocket));
    if (problem !== undefined) throw new EndpointArgumentError(`onion: localSocket ${problem}`);
  }
  if (k.privateKey !== undefined) service.privateKey = parsePrivateKey(k.privateKey);
  if (k.privateKeyFile !== undefined) service.privateKeyFile = parseFilePath(k.privateKeyFile, 'onion: privateKeyFile');
  if (k.hiddenServiceDir !== undefined) {
    service.hiddenServiceDir = parseFilePath(k.hiddenServiceDir, 'onion: hiddenServiceDir');
    // tor resolves a relative one against its own working directory, not ours.
    if (!path.isAbsolute(service.hiddenServiceDir)) throw new EndpointArgumentError('onion: hiddenServiceDir must be an absolute path');
  }
  if (k.singleHop !== undefined) service.singleHop = parseBoolean(k.singleHop, 'onion: singleHop');
  if (k.clientAuth !== undefined) service.clientAuth = parseClientAuth(k.clientAuth);
  if (k.clientAuthDir !== undefined) service.clientAuthDir = parseFilePath(k.clientAuthDir, 'onion: clientAuthDir');
  if (k.maxStreams !== undefined) service.maxStreams = parseInteger(k.maxStreams, 'onion: maxStreams', 0, 65535);
  if (k.maxStreamsCloseCircuit !== undefined) {
    service.maxStreamsCloseCircuit = parseBoolean(k.maxStreamsCloseCircuit, 'onion: maxStreamsCloseCircuit');
  }
  if (k.detach !== undefined) service.detach = parseBoolean(k.detach, 'onion: detach');
  if (k.pow !== undefined) service.pow = parseBoolean(k.pow, 'onion: pow');
  if (k.awaitUpload !== undefined) service.awaitUpload = parseBoolean(k.awaitUpload, 'onion: awaitUpload');
  if (k.uploadTimeout !== undefined) service.uploadTimeoutMs = parseSeconds(k.uploadTimeout, 'onion: uploadTimeout');

  const out: OnionServerOptions = { service };
  const control = parseControlOption('onion:', k.control, k.controlPort);
  if (control !== undefined) out.control = control;
  if (k.republish !== undefined && parseBoolean(k.republish, 'onion: republish')) {
    // Only an ephemeral service is dropped with its connection; the others outlive it in tor.
    if (service.detach === true) {
      throw new EndpointArgumentError('onion: "republish" and "detach" cannot be used together: a detached service outlives the control connection, so there is nothing to publish again');
    }
    exclusive('onion:', k, 'republish', 'hiddenServiceDir', 'a hiddenServiceDir service is not dropped with the control connection');
    if (service.clientAuth !== undefined && service.clientAuthDir === undefined) {
      throw new EndpointArgumentError(
        'onion: republish=true with clientAuth needs clientAuthDir=, which keeps the clients\' keys for the next publication (without it they would get new keys, and lose access)',
      );
    }
    out.republish = true;
  }
  return out;
}

/** The built-in `onion:` plugin (server only). */
export const onionPlugin: EndpointPlugin = {
  prefix: 'onion',
  describe: SPEC.usage,

  validate(endpoint: ParsedEndpoint, role): void {
    if (role === 'server') parseOnionServerOptions(endpoint);
  },

  async listen(server: net.Server, endpoint: ParsedEndpoint, ctx: EndpointContext): Promise<ListeningEndpoint> {
    const o = parseOnionServerOptions(endpoint);
    // A Tor handle dies with the connection the service is lost with: the tor that comes back is
    // found where that handle was connected (a Tor's controlEndpoint), or at control=.
    const handleEndpoint = (ctx.tor as { controlEndpoint?: unknown } | undefined)?.controlEndpoint;
    const findAgainAt = o.control ?? (ctx.tor === undefined ? undefined : typeof handleEndpoint === 'string' ? handleEndpoint : null);
    if (o.republish && findAgainAt === null) {
      throw new EndpointArgumentError('onion: republish=true needs a tor torcon can find again: name it with control= (this Tor handle has no control endpoint)');
    }
    const serviceOptions = { ...o.service, server, ...(ctx.signal ? { signal: ctx.signal } : {}) };
    // Checked here too, before any tor is looked for: a bad value from the string is the string's error.
    validateOnionOptions(serviceOptions, endpointOptionError);
    const tor = await resolveTor(ctx, o.control);
    const service = await tor.createOnionService(serviceOptions);
    if (o.republish && service instanceof TorOnionService) {
      const again: EndpointContext = { getTor: ctx.getTor, registry: ctx.registry };
      republishWhenLost(service, server, { ...o.service, server }, () => resolveTor(again, findAgainAt ?? undefined));
    }
    return service;
  },
};
