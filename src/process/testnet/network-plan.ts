import path from 'node:path';
import { TorInvalidValueError } from '../../errors.js';
import {
  buildNodeTorrc,
  type AuthorityIdentity,
  type NetworkTorrcContext,
  type TestNodeSpec,
} from './torrc-builder.js';

/**
 * Pure planning of a test network: which nodes, their names, directories and ports, and every
 * torrc the launcher writes. Kept apart from the launcher so that tests check exactly the files a
 * real start produces.
 */

/** Ports per relaying node: OR, Dir, Control. */
export const PORTS_PER_RELAY = 3;
/** Ports of the client: Control, SOCKS. */
export const PORTS_FOR_CLIENT = 2;

/** How many ports a network of `relays` relays needs. */
export function portsNeeded(relays: number): number {
  return relays * PORTS_PER_RELAY + PORTS_FOR_CLIENT;
}

/** The nodes of a network: relaying nodes (authorities first) and the client. */
export interface NetworkPlan {
  relays: TestNodeSpec[];
  client: TestNodeSpec;
}

/**
 * Names the nodes (`auth0..`, `relayN..`, `client`), places their data directories under `dir`,
 * and hands out `ports` in order.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when counts and ports do not fit
 */
export function planNetwork(opts: { relays: number; authorities: number; dir: string; ports: readonly number[] }): NetworkPlan {
  const { relays, authorities, dir } = opts;
  if (!Number.isInteger(relays) || relays < 1) throw new TorInvalidValueError('relays', 'must be a positive integer');
  if (!Number.isInteger(authorities) || authorities < 1 || authorities > relays) {
    throw new TorInvalidValueError('authorities', `must be an integer from 1 to relays (${relays})`);
  }
  if (opts.ports.length < portsNeeded(relays)) throw new TorInvalidValueError('ports', `${portsNeeded(relays)} ports are needed`);
  const ports = [...opts.ports];
  const take = () => ports.shift()!;
  const relaySpecs: TestNodeSpec[] = [];
  for (let i = 0; i < relays; i++) {
    const role = i < authorities ? 'authority' : 'relay';
    const nickname = role === 'authority' ? `auth${i}` : `relay${i}`;
    relaySpecs.push({ nickname, role, dataDir: path.join(dir, nickname), orPort: take(), dirPort: take(), controlPort: take() });
  }
  const client: TestNodeSpec = {
    nickname: 'client',
    role: 'client',
    dataDir: path.join(dir, 'client'),
    controlPort: take(),
    socksPort: take(),
    startOffline: true,
  };
  return { relays: relaySpecs, client };
}

/** One torrc the launcher writes: for which node, where, and its text. */
export interface PlannedTorrc {
  spec: TestNodeSpec;
  path: string;
  text: string;
}

/**
 * The `DirAuthority` inputs of a plan, given each relaying node's keys (same order as `plan.relays`).
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when an authority lacks its v3 identity
 */
export function authoritiesOf(plan: NetworkPlan, keys: ReadonlyArray<{ fingerprint: string; v3Ident?: string }>): AuthorityIdentity[] {
  return plan.relays.flatMap((s, i) => {
    if (s.role !== 'authority') return [];
    const k = keys[i];
    if (!k?.v3Ident) throw new TorInvalidValueError('keys', `authority ${s.nickname} has no v3 identity`);
    return [{ nickname: s.nickname, orPort: s.orPort!, dirPort: s.dirPort!, v3Ident: k.v3Ident, fingerprint: k.fingerprint }];
  });
}

/** Every node's torrc (relaying nodes first, the client last), each at `<dataDir>/torrc`. */
export function buildNetworkTorrcs(plan: NetworkPlan, ctx: NetworkTorrcContext): PlannedTorrc[] {
  return [...plan.relays, plan.client].map((spec) => ({
    spec,
    path: path.join(spec.dataDir, 'torrc'),
    text: buildNodeTorrc(spec, ctx),
  }));
}
