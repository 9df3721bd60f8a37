/**
 * The data the live state is made of, kept apart from TorState's I/O so that the reducers
 * (reducers.ts) can be driven and checked without a tor.
 */

import type { CancelOptions } from '../util/abort.js';
import type { AddressMapping } from './address-map.js';
import type { Circuit } from './circuit.js';
import type { SocketPeer } from './client-process.js';
import type { RouterContext } from './router.js';
import { ChurnMap } from './churn-map.js';
import { RouterMap } from './router-map.js';
import type { Stream } from './stream.js';
import type { UnreadableReporter } from './unread-texts.js';

/** One of tor's entry guards (`GETINFO entry-guards`, GUARD events). */
export interface EntryGuard {
  /** 40 hex digits, upper case ('' when tor named the guard by nickname only). */
  readonly fingerprint: string;
  readonly nickname: string | undefined;
  /**
   * tor's word for it, in lower case: `up`, `never-connected`, `down`, `unusable`, `unlisted`
   * (GETINFO entry-guards), or the latest GUARD event's status: `new`, `up`, `down`, `bad`,
   * `good`, ... (tor writes those in upper case).
   */
  readonly status: string;
}

/** What circuits and streams call back into for the operations that need tor (close, attach). */
export interface StateOwner {
  closeCircuit(id: string, opts?: CancelOptions & { ifUnused?: boolean }): Promise<void>;
  closeStream(id: string, reason?: number | string, opts?: CancelOptions): Promise<void>;
  /**
   * tor's client listeners (SOCKS, HTTP CONNECT, TransPort, NATDPort), the far end of a client's
   * socket; undefined when tor does not say.
   */
  clientPeers(): Promise<readonly SocketPeer[] | undefined>;
}

/**
 * Everything the live state knows. The reducers update it IN PLACE and return it (so TorState's
 * maps stay the very objects users hold, and an event costs no copying); a test that wants a
 * before/after picture takes one with `describeSnapshot` before applying more events.
 */
export interface StateSnapshot {
  /** Relays by 40-hex upper-case fingerprint (stored by base64 identity: see RouterMap). */
  readonly routers: RouterMap;
  /** Open (not CLOSED/FAILED) circuits by id. */
  readonly circuits: ChurnMap<string, Circuit>;
  /** Open (not CLOSED/FAILED) streams by id. */
  readonly streams: ChurnMap<string, Stream>;
  /** Address mappings by source address, expired ones included (views filter them). */
  readonly addressMap: Map<string, AddressMapping>;
  /** The last circuits that closed, so late questions about them get a real answer. Bounded. */
  readonly recentlyClosed: ChurnMap<string, Circuit>;
  /**
   * Streams tor reported FAILED, until their CLOSED (tor sends both), so that CLOSED updates the
   * same Stream that `streamFailed` handed out. Bounded.
   */
  readonly failedStreams: ChurnMap<string, Stream>;
  /** Open streams that name a circuit we have not seen yet, by that circuit's id. */
  readonly orphanStreams: ChurnMap<string, Set<Stream>>;
  /** Entry guards in tor's order. */
  guards: EntryGuard[];
  /** Bumped whenever `routers` changes, so cached Router lookups know to refresh. */
  routerGeneration: number;
  /** Given to the Routers the reducers create (for `Router.location()`). */
  routerContext: RouterContext | undefined;
  /** Lets circuits and streams act (close...); undefined for a detached snapshot. */
  owner: StateOwner | undefined;
  /** Where `Stream.clientProcess()` reads /proc (tests point it at a fake tree). */
  procRoot: string;
  /** Told when a circuit's or stream's kept event text turns out unreadable (see unread-texts.ts). */
  onUnreadable: UnreadableReporter | undefined;
}

/** How many closed circuits {@link StateSnapshot.recentlyClosed} (and failed streams, {@link StateSnapshot.failedStreams}) remembers. */
export const RECENTLY_CLOSED_LIMIT = 64;

/**
 * An empty snapshot.
 *
 * @param init - the owner, router context, /proc root and unreadable-text reporter to use; all optional
 */
export function createSnapshot(
  init: { owner?: StateOwner; routerContext?: RouterContext; procRoot?: string; onUnreadable?: UnreadableReporter } = {},
): StateSnapshot {
  return {
    routers: new RouterMap(),
    // Entries that come and go all the time: see ChurnMap for why not a plain Map.
    circuits: new ChurnMap(),
    streams: new ChurnMap(),
    addressMap: new Map(),
    recentlyClosed: new ChurnMap(),
    failedStreams: new ChurnMap(),
    orphanStreams: new ChurnMap(),
    guards: [],
    routerGeneration: 0,
    routerContext: init.routerContext,
    owner: init.owner,
    procRoot: init.procRoot ?? '/proc',
    onUnreadable: init.onUnreadable,
  };
}

/** A plain-data picture of a snapshot, for assertions and debugging. */
export interface SnapshotDescription {
  routers: string[];
  circuits: Array<{
    id: string;
    status: string;
    path: string[];
    purpose: string | undefined;
    streams: string[];
  }>;
  streams: Array<{ id: string; status: string; circuit: string | undefined; target: string }>;
  addressMap: Array<{ address: string; newAddress: string | null; expires: string | null }>;
  guards: Array<{ fingerprint: string; status: string }>;
}

/**
 * Describes a snapshot as plain data (sorted, JSON-friendly): router `nickname=FINGERPRINT`s, and
 * circuits, streams, address mappings and guards with their key fields.
 */
export function describeSnapshot(s: StateSnapshot): SnapshotDescription {
  const byId = (a: { id: string }, b: { id: string }) => Number(a.id) - Number(b.id) || a.id.localeCompare(b.id);
  return {
    routers: [...s.routers.values()].map((r) => `${r.nickname}=${r.fingerprint}`).sort(),
    circuits: [...s.circuits.values()]
      .map((c) => ({
        id: c.id,
        status: c.status,
        path: c.path.map((r) => r.nickname || r.fingerprint),
        purpose: c.purpose,
        streams: c.streams.map((st) => st.id).sort(),
      }))
      .sort(byId),
    streams: [...s.streams.values()]
      .map((st) => ({
        id: st.id,
        status: st.status,
        circuit: st.circuit?.id,
        target: `${st.target.host}:${st.target.port}`,
      }))
      .sort(byId),
    addressMap: [...s.addressMap.values()]
      .map((m) => ({ address: m.address, newAddress: m.newAddress, expires: m.expires?.toISOString() ?? null }))
      .sort((a, b) => a.address.localeCompare(b.address)),
    guards: s.guards.map((g) => ({ fingerprint: g.fingerprint, status: g.status })),
  };
}
