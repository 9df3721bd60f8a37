import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { parseEvent, parseEventLine } from '../../src/control/events/parse-event.js';
import type { GuardEvent, TorEvent } from '../../src/control/events/event-types.js';
import { TorProtocolError } from '../../src/errors.js';
import {
  applyCircEvent,
  applyAddrMapText,
  applyGuardEvent,
  applyCircText,
  applyStreamEvent,
  applyStreamText,
  ensureCircuit,
  loadInitialState,
  reduce,
  type InitialStateProblem,
} from '../../src/state/reducers.js';
import { createSnapshot, describeSnapshot, RECENTLY_CLOSED_LIMIT, type SnapshotDescription, type StateSnapshot } from '../../src/state/snapshot.js';
import { MAX_UNREAD } from '../../src/state/unread-texts.js';
import { RECORDED_INFO, RECORDED_RELAYS } from './state-recorded-session.js';

const FP = RECORDED_RELAYS as Record<'auth0' | 'auth1' | 'auth2' | 'auth3', string>;
const ln = (nick: keyof typeof FP) => `$${FP[nick]}~${nick}`;
const UNKNOWN_FP = 'F'.repeat(40);

/** An event from its text; `NAME\nbody` makes a `650+NAME` data-block event (NS, NEWCONSENSUS). */
function ev(text: string): TorEvent {
  const nl = text.indexOf('\n');
  if (nl === -1) return parseEventLine(text);
  return parseEvent({
    status: 650,
    lines: [
      { status: 650, separator: '+', text: text.slice(0, nl), data: text.slice(nl + 1) },
      { status: 650, separator: ' ', text: 'OK' },
    ],
  });
}

function routerEntry(nick: string, seed: string, bandwidth: number): string {
  const id = createHash('sha1').update(seed).digest('base64').replace(/=+$/, '');
  return `r ${nick} ${id} AAAAAAAAAAAAAAAAAAAAAAAAAAA 2024-01-01 00:00:00 10.0.0.1 9001 0\ns Fast Running Valid\nw Bandwidth=${bandwidth}`;
}
const fpOf = (seed: string) => createHash('sha1').update(seed).digest('hex').toUpperCase();

interface Case {
  name: string;
  /** Load the recorded initial GETINFO first. */
  initial?: boolean;
  events: string[];
  expect: Partial<SnapshotDescription>;
}

const EMPTY_INFO = { 'ns/all': RECORDED_INFO['ns/all']!, 'circuit-status': '', 'stream-status': '', 'address-mappings/all': '', 'entry-guards': '' };

const CASES: Case[] = [
  {
    name: 'a circuit is launched, extended hop by hop and built',
    events: [
      'CIRC 5 LAUNCHED BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL',
      `CIRC 5 EXTENDED ${ln('auth0')} PURPOSE=GENERAL`,
      `CIRC 5 EXTENDED ${ln('auth0')},${ln('auth1')} PURPOSE=GENERAL`,
      `CIRC 5 BUILT ${ln('auth0')},${ln('auth1')},${ln('auth2')} PURPOSE=GENERAL`,
    ],
    expect: { circuits: [{ id: '5', status: 'BUILT', path: ['auth0', 'auth1', 'auth2'], purpose: 'GENERAL', streams: [] }] },
  },
  {
    name: 'FAILED then CLOSED removes the circuit',
    events: [
      `CIRC 6 EXTENDED ${ln('auth1')} PURPOSE=HS_VANGUARDS`,
      `CIRC 6 FAILED ${ln('auth1')} PURPOSE=HS_VANGUARDS REASON=DESTROYED REMOTE_REASON=DESTROYED`,
      `CIRC 6 CLOSED ${ln('auth1')} PURPOSE=HS_VANGUARDS REASON=DESTROYED REMOTE_REASON=DESTROYED`,
    ],
    expect: { circuits: [] },
  },
  {
    name: 'a CLOSED event for a circuit never seen adds nothing',
    events: ['CIRC 99 CLOSED REASON=FINISHED'],
    expect: { circuits: [] },
  },
  {
    name: 'hops the consensus does not list become placeholders named by nickname',
    events: [`CIRC 7 BUILT $${UNKNOWN_FP}~ghost,${ln('auth3')}`],
    expect: { circuits: [{ id: '7', status: 'BUILT', path: ['ghost', 'auth3'], purpose: undefined, streams: [] }] },
  },
  {
    name: 'a stream lives on its circuit from SENTCONNECT until CLOSED',
    events: [
      `CIRC 8 BUILT ${ln('auth0')},${ln('auth1')},${ln('auth2')}`,
      'STREAM 20 NEW 0 example.com:443 SOURCE_ADDR=127.0.0.1:50000 PURPOSE=USER',
      'STREAM 20 SENTCONNECT 8 example.com:443',
      'STREAM 20 REMAP 8 93.184.216.34:443 SOURCE=EXIT',
      'STREAM 20 SUCCEEDED 8 93.184.216.34:443',
      'STREAM 21 NEW 0 example.org:80 SOURCE_ADDR=127.0.0.1:50001 PURPOSE=USER',
    ],
    expect: {
      circuits: [{ id: '8', status: 'BUILT', path: ['auth0', 'auth1', 'auth2'], purpose: undefined, streams: ['20'] }],
      streams: [
        { id: '20', status: 'SUCCEEDED', circuit: '8', target: '93.184.216.34:443' },
        { id: '21', status: 'NEW', circuit: undefined, target: 'example.org:80' },
      ],
    },
  },
  {
    name: 'CLOSED and FAILED streams leave the map and their circuit',
    events: [
      `CIRC 8 BUILT ${ln('auth0')},${ln('auth1')},${ln('auth2')}`,
      'STREAM 20 NEW 0 example.com:443',
      'STREAM 20 SENTCONNECT 8 example.com:443',
      'STREAM 20 CLOSED 8 example.com:443 REASON=DONE',
      'STREAM 22 NEW 0 example.net:443',
      'STREAM 22 FAILED 0 example.net:443 REASON=TIMEOUT',
    ],
    expect: {
      circuits: [{ id: '8', status: 'BUILT', path: ['auth0', 'auth1', 'auth2'], purpose: undefined, streams: [] }],
      streams: [],
    },
  },
  {
    name: 'a DETACHED stream is on no circuit, and can be attached again elsewhere',
    events: [
      `CIRC 8 BUILT ${ln('auth0')},${ln('auth1')},${ln('auth2')}`,
      `CIRC 9 BUILT ${ln('auth1')},${ln('auth2')},${ln('auth3')}`,
      'STREAM 30 NEW 0 example.com:443',
      'STREAM 30 SENTCONNECT 8 example.com:443',
      'STREAM 30 DETACHED 8 example.com:443 REASON=TIMEOUT',
    ],
    expect: {
      circuits: [
        { id: '8', status: 'BUILT', path: ['auth0', 'auth1', 'auth2'], purpose: undefined, streams: [] },
        { id: '9', status: 'BUILT', path: ['auth1', 'auth2', 'auth3'], purpose: undefined, streams: [] },
      ],
      streams: [{ id: '30', status: 'DETACHED', circuit: undefined, target: 'example.com:443' }],
    },
  },
  {
    name: 'a stream waiting for the controller is on no circuit, though tor names its old one (tor 0.4.9)',
    events: [
      `CIRC 8 BUILT ${ln('auth0')},${ln('auth1')},${ln('auth2')}`,
      'STREAM 31 NEW 0 example.com:443',
      'STREAM 31 CONTROLLER_WAIT 0 example.com:443',
      'STREAM 31 SENTCONNECT 8 example.com:443',
      'STREAM 31 DETACHED 8 example.com:443 REASON=END REMOTE_REASON=MISC',
      'STREAM 31 CONTROLLER_WAIT 8 example.com:443',
    ],
    expect: {
      circuits: [{ id: '8', status: 'BUILT', path: ['auth0', 'auth1', 'auth2'], purpose: undefined, streams: [] }],
      streams: [{ id: '31', status: 'CONTROLLER_WAIT', circuit: undefined, target: 'example.com:443' }],
    },
  },
  {
    name: 'CIRC_MINOR changes a circuit\'s purpose (and path when cannibalized); one about an unknown circuit changes nothing',
    events: [
      `CIRC 14 BUILT ${ln('auth0')},${ln('auth1')},${ln('auth2')} PURPOSE=CONFLUX_UNLINKED`,
      `CIRC 15 BUILT ${ln('auth0')},${ln('auth1')} BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY PURPOSE=HS_VANGUARDS`,
      `CIRC_MINOR 14 PURPOSE_CHANGED ${ln('auth0')},${ln('auth1')},${ln('auth2')} PURPOSE=CONFLUX_LINKED OLD_PURPOSE=CONFLUX_UNLINKED`,
      `CIRC_MINOR 15 CANNIBALIZED ${ln('auth0')},${ln('auth1')},${ln('auth3')} BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY PURPOSE=HS_CLIENT_INTRO OLD_PURPOSE=HS_VANGUARDS`,
      `CIRC_MINOR 99 PURPOSE_CHANGED ${ln('auth0')} PURPOSE=GENERAL OLD_PURPOSE=HS_VANGUARDS`,
    ],
    expect: {
      circuits: [
        { id: '14', status: 'BUILT', path: ['auth0', 'auth1', 'auth2'], purpose: 'CONFLUX_LINKED', streams: [] },
        { id: '15', status: 'BUILT', path: ['auth0', 'auth1', 'auth3'], purpose: 'HS_CLIENT_INTRO', streams: [] },
      ],
    },
  },
  {
    name: 'a stream seen before its circuit finds it once the circuit appears',
    events: ['STREAM 40 SENTCONNECT 12 example.com:80', `CIRC 12 BUILT ${ln('auth2')}`, 'STREAM 40 SUCCEEDED 12 example.com:80'],
    expect: {
      circuits: [{ id: '12', status: 'BUILT', path: ['auth2'], purpose: undefined, streams: ['40'] }],
      streams: [{ id: '40', status: 'SUCCEEDED', circuit: '12', target: 'example.com:80' }],
    },
  },
  {
    name: 'ADDRMAP adds and replaces mappings, errors included; RESOLVE answers tor does not keep (CACHED="NO") change nothing',
    events: [
      'ADDRMAP 10.1.2.3 example.com NEVER CACHED="YES"',
      'ADDRMAP example.org <error> "2026-11-25 15:45:16" error=yes EXPIRES="2026-11-25 15:45:16" CACHED="NO" STREAMID=15',
      'ADDRMAP bad.example <error> "2030-01-01 00:00:00" error=yes EXPIRES="2030-01-01 00:00:00" CACHED="YES"',
      'ADDRMAP www.example.com 1.2.3.4 "2030-01-01 00:00:00" EXPIRES="2030-01-01 00:00:00" CACHED="YES"',
      'ADDRMAP www.example.com 5.6.7.8 "2030-01-02 00:00:00" EXPIRES="2030-01-02 00:00:00" CACHED="YES"',
      // tor answers a RESOLVE of a mapped name without touching its map (seen on tor 0.4.9)
      'ADDRMAP 10.1.2.3 example.com "2026-11-26 03:36:12" EXPIRES="2026-11-26 03:36:12" CACHED="NO" STREAMID=16',
      // a mapping from an event without CACHED (older tor, or address-mappings/all) is kept
      'ADDRMAP old.example 192.0.2.7 NEVER',
    ],
    expect: {
      addressMap: [
        { address: '10.1.2.3', newAddress: 'example.com', expires: null },
        { address: 'bad.example', newAddress: null, expires: '2030-01-01T00:00:00.000Z' },
        { address: 'old.example', newAddress: '192.0.2.7', expires: null },
        { address: 'www.example.com', newAddress: '5.6.7.8', expires: '2030-01-02T00:00:00.000Z' },
      ],
    },
  },
  {
    name: 'NEWCONSENSUS replaces the routers, NS updates and adds entries',
    events: [
      `NEWCONSENSUS\n${routerEntry('alpha', 'a', 1)}\n${routerEntry('beta', 'b', 2)}`,
      `NS\n${routerEntry('beta2', 'b', 5)}\n${routerEntry('gamma', 'c', 3)}`,
    ],
    expect: { routers: [`alpha=${fpOf('a')}`, `beta2=${fpOf('b')}`, `gamma=${fpOf('c')}`].sort() },
  },
  {
    name: 'GUARD events: NEW adds, UP/DOWN update, DROPPED removes, layer-2 statuses are ignored',
    initial: true,
    events: [
      `GUARD ENTRY ${ln('auth2')} BAD_L2`,
      `GUARD ENTRY ${ln('auth0')} DOWN`,
      `GUARD ENTRY ${ln('auth1')} DROPPED`,
      `GUARD ENTRY $${UNKNOWN_FP}~ghost UP`,
      `GUARD ENTRY $${UNKNOWN_FP}~ghost NEW`,
    ],
    expect: {
      guards: [
        { fingerprint: FP.auth3, status: 'up' },
        { fingerprint: FP.auth0, status: 'down' },
        { fingerprint: FP.auth2, status: 'never-connected' },
        { fingerprint: UNKNOWN_FP, status: 'new' },
      ],
    },
  },
  {
    name: 'events the state does not track, and malformed events, change nothing',
    events: ['BW 10 20', `ORCONN ${ln('auth0')} CONNECTED`, 'CIRC', 'STREAM 1 NEW', 'ADDRMAP onlyone', 'SOMETHING_NEW a b=c'],
    expect: { circuits: [], streams: [], addressMap: [] },
  },
];

/**
 * Applies an event the way TorState does: CIRC and STREAM from their text (id and status now, the
 * rest when read), ADDRMAP from its text at once, the others parsed. Returns false for an event whose head is unreadable.
 */
function applyAsText(s: StateSnapshot, text: string): boolean {
  try {
    if (text.startsWith('CIRC ')) applyCircText(s, text, 5);
    else if (text.startsWith('STREAM ')) applyStreamText(s, text, 7);
    else if (text.startsWith('ADDRMAP ')) applyAddrMapText(s, text, 8);
    else reduce(s, ev(text));
    return true;
  } catch (err) {
    assert.ok(err instanceof TorProtocolError, `only TorProtocolError, got ${String(err)}`);
    return false;
  }
}

/** Parses an event as TorControl does, throwing its parse error instead of making a generic event. */
function reduceOrThrow(text: string): void {
  const e = ev(text);
  if (e.generic && e.parseError !== undefined) throw new TorProtocolError(e.parseError);
  reduce(createSnapshot(), e);
}

/** Every public field of every circuit and stream, plus the rest of the snapshot, as plain data. */
function dumpAll(s: StateSnapshot): unknown {
  const circuit = (c: import('../../src/state/circuit.js').Circuit) => ({
    id: c.id,
    status: c.status,
    purpose: c.purpose,
    buildFlags: [...c.buildFlags],
    hsState: c.hsState,
    rendQuery: c.rendQuery,
    timeCreated: c.timeCreated?.toISOString(),
    reason: c.reason,
    remoteReason: c.remoteReason,
    socksUsername: c.socksUsername,
    pathRefs: c.pathRefs.map((r) => `${r.fingerprint}~${r.nickname ?? ''}`),
    path: c.path.map((r) => r.nickname || r.fingerprint),
    streams: c.streams.map((st) => st.id).sort(),
  });
  const stream = (st: import('../../src/state/stream.js').Stream) => ({
    id: st.id,
    status: st.status,
    circuitId: st.circuitId,
    circuit: st.circuit?.id,
    target: { ...st.target },
    reason: st.reason,
    remoteReason: st.remoteReason,
    source: st.source,
    sourceAddr: st.sourceAddr && { ...st.sourceAddr },
    purpose: st.purpose,
    clientProtocol: st.clientProtocol,
    socksUsername: st.socksUsername,
    nymEpoch: st.nymEpoch,
    sessionGroup: st.sessionGroup,
  });
  return {
    ...describeSnapshot(s),
    circuitsInFull: [...s.circuits.values()].map(circuit),
    recentlyClosed: [...s.recentlyClosed.values()].map(circuit),
    streamsInFull: [...s.streams.values()].map(stream),
    orphans: [...s.orphanStreams].map(([cid, set]) => [cid, [...set].map(stream)]),
    addressMapInFull: [...s.addressMap.values()].map((m) => JSON.parse(JSON.stringify(m)) as unknown),
  };
}

describe('state: reducers (table)', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const s = createSnapshot();
      loadInitialState(s, c.initial ? RECORDED_INFO : EMPTY_INFO);
      for (const text of c.events) assert.equal(reduce(s, ev(text)), s, 'reduce returns the same snapshot');
      const got = describeSnapshot(s);
      for (const [key, value] of Object.entries(c.expect)) {
        assert.deepEqual(got[key as keyof SnapshotDescription], value, key);
      }
    });
    it(`${c.name}: the same from the events' text, read when asked`, () => {
      const parsed = createSnapshot();
      const asText = createSnapshot();
      for (const s of [parsed, asText]) loadInitialState(s, c.initial ? RECORDED_INFO : EMPTY_INFO);
      for (const text of c.events) {
        reduce(parsed, ev(text));
        applyAsText(asText, text);
      }
      assert.deepEqual(dumpAll(asText), dumpAll(parsed));
    });
  }
});

describe('state: reducers', () => {
  it('loads the recorded initial state: routers, circuits with their paths, guards', () => {
    const s = createSnapshot();
    const problems: InitialStateProblem[] = [];
    loadInitialState(s, RECORDED_INFO, (p) => problems.push(p));
    assert.deepEqual(problems, []);
    const d = describeSnapshot(s);
    assert.equal(d.routers.length, 4);
    assert.deepEqual(
      d.circuits.map((c) => c.id),
      ['1', '2', '3', '4', '5', '6', '7', '8', '10'],
    );
    const c10 = s.circuits.get('10')!;
    assert.deepEqual(c10.path.map((r) => r.nickname), ['auth3', 'auth2', 'auth0', 'auth1']);
    assert.equal(c10.path[0], s.routers.get(FP.auth3), 'hops are the consensus Router objects');
    assert.equal(c10.socksUsername, 'exit-check-aabc25731a60');
    assert.equal(c10.timeCreated?.toISOString(), '2026-11-25T15:45:13.515Z');
    assert.deepEqual(c10.buildFlags, ['NEED_CAPACITY']);
    assert.deepEqual(d.guards.map((g) => g.status), ['up', 'up', 'never-connected', 'never-connected']);
  });

  it('reports unreadable initial lines and keeps the rest', () => {
    const s = createSnapshot();
    const problems: InitialStateProblem[] = [];
    loadInitialState(
      s,
      {
        'circuit-status': `1 BUILT ${ln('auth0')}\n\n2 BUILT $NOTAFINGERPRINT~x\r\n3 LAUNCHED`,
        'stream-status': '7 SUCCEEDED 1 example.com:443\n8 NEW 0 nohostport',
        'address-mappings/all': 'a.example b.example NEVER\nbroken',
      },
      (p) => problems.push(p),
    );
    assert.deepEqual([...s.circuits.keys()], ['1', '3']);
    assert.deepEqual([...s.streams.keys()], ['7']);
    assert.deepEqual([...s.addressMap.keys()], ['a.example']);
    assert.deepEqual(
      problems.map((p) => p.key),
      ['circuit-status', 'stream-status', 'address-mappings/all'],
    );
  });

  it('marks mappings listed at the start as kept by tor (cached: true), as their ADDRMAP events say', () => {
    const listed = createSnapshot();
    loadInitialState(listed, { ...EMPTY_INFO, 'address-mappings/all': 'a.example 192.0.2.1 "2026-11-25 16:00:00"\nb.example c.example NEVER' });
    assert.deepEqual([...listed.addressMap.values()].map((m) => [m.address, m.cached]), [['a.example', true], ['b.example', true]]);
    const seen = createSnapshot();
    reduce(seen, ev('ADDRMAP a.example 192.0.2.1 "2026-11-25 16:00:00" EXPIRES="2026-11-25 16:00:00" CACHED="YES"'));
    assert.equal(seen.addressMap.get('a.example')!.cached, listed.addressMap.get('a.example')!.cached);
  });

  it('reuses the path array while neither the path nor the routers change', () => {
    const s = createSnapshot();
    loadInitialState(s, EMPTY_INFO);
    const c = applyCircEvent(s, ev(`CIRC 5 BUILT ${ln('auth0')},$${UNKNOWN_FP}~ghost`) as never);
    const first = c.path;
    assert.equal(c.path, first);
    // A new consensus: hops are looked up again, and the placeholder object is kept.
    reduce(s, ev(`NS\n${routerEntry('extra', 'x', 1)}`));
    const second = c.path;
    assert.notEqual(second, first);
    assert.equal(second[1], first[1]);
    assert.equal(second[0], s.routers.get(FP.auth0));
  });

  it('remembers a bounded number of closed circuits', () => {
    const s = createSnapshot();
    for (let i = 1; i <= RECENTLY_CLOSED_LIMIT + 10; i++) {
      reduce(s, ev(`CIRC ${i} LAUNCHED`));
      reduce(s, ev(`CIRC ${i} CLOSED REASON=FINISHED`));
    }
    assert.equal(s.circuits.size, 0);
    assert.equal(s.recentlyClosed.size, RECENTLY_CLOSED_LIMIT);
    assert.ok(!s.recentlyClosed.has('1'));
    assert.equal(s.recentlyClosed.get(String(RECENTLY_CLOSED_LIMIT + 10))?.reason, 'FINISHED');
  });

  it('ends a FAILED stream with the same Stream when its CLOSED follows (tor sends both), and bounds the wait', () => {
    const s = createSnapshot();
    const st = applyStreamText(s, 'STREAM 7 NEW 0 example.com:443 SOURCE_ADDR=127.0.0.1:5000 PURPOSE=USER', 7);
    assert.equal(applyStreamText(s, 'STREAM 7 FAILED 0 example.com:443 REASON=TIMEOUT', 7), st);
    assert.equal(s.streams.size, 0, 'a failed stream is not open');
    assert.equal(applyStreamText(s, 'STREAM 7 CLOSED 0 example.com:443 REASON=TIMEOUT', 7), st);
    assert.equal(st.status, 'CLOSED');
    assert.deepEqual(st.sourceAddr, { host: '127.0.0.1', port: 5000 });
    assert.equal(s.failedStreams.size, 0);
    // Streams whose CLOSED never comes are not kept for ever.
    for (let i = 1; i <= RECENTLY_CLOSED_LIMIT + 10; i++) applyStreamText(s, `STREAM ${100 + i} FAILED 0 example.com:443`, 7);
    assert.equal(s.failedStreams.size, RECENTLY_CLOSED_LIMIT);
  });

  it('ensureCircuit gives the known, the recently closed, or a new LAUNCHED circuit', () => {
    const s = createSnapshot();
    reduce(s, ev('CIRC 3 LAUNCHED'));
    reduce(s, ev('CIRC 4 FAILED REASON=NOPATH'));
    assert.equal(ensureCircuit(s, '3'), s.circuits.get('3'));
    const failed = ensureCircuit(s, '4');
    assert.equal(failed.status, 'FAILED');
    assert.equal(failed.reason, 'NOPATH');
    assert.ok(!s.circuits.has('4'));
    const fresh = ensureCircuit(s, '5', 'CONTROLLER');
    assert.equal(fresh.status, 'LAUNCHED');
    assert.equal(fresh.purpose, 'CONTROLLER');
    assert.equal(s.circuits.get('5'), fresh);
  });

  it('keeps fields tor only sends on some events (SOURCE_ADDR, PURPOSE) across later events', () => {
    const s = createSnapshot();
    applyStreamEvent(s, ev('STREAM 1 NEW 0 example.com:443 SOURCE_ADDR=127.0.0.1:4444 PURPOSE=USER CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=2 SESSION_GROUP=-5 SOCKS_USERNAME="u" SOCKS_PASSWORD="secret"') as never);
    const st = applyStreamEvent(s, ev('STREAM 1 SENTCONNECT 0 example.com:443') as never);
    assert.deepEqual(st.sourceAddr, { host: '127.0.0.1', port: 4444 });
    assert.equal(st.purpose, 'USER');
    assert.equal(st.clientProtocol, 'SOCKS5');
    assert.equal(st.nymEpoch, 2);
    assert.equal(st.sessionGroup, -5);
    assert.equal(st.socksUsername, 'u');
    assert.ok(!JSON.stringify(Object.entries(st)).includes('secret'), 'the SOCKS password is not kept');
  });

  it('keeps no SOCKS password in the texts it has not read yet', () => {
    const s = createSnapshot();
    const st = applyStreamText(s, 'STREAM 1 NEW 0 example.com:443 SOCKS_USERNAME="u" SOCKS_PASSWORD="s3cret token" PURPOSE=USER', 7);
    const c = applyCircText(s, `CIRC 2 BUILT ${ln('auth0')} SOCKS_USERNAME="u" SOCKS_PASSWORD=s3cret PURPOSE=GENERAL`, 5);
    for (const kept of [st, c]) assert.ok(!JSON.stringify(Object.entries(kept)).includes('s3cret'), 'the kept text is masked');
    assert.equal(st.socksUsername, 'u');
    assert.equal(st.purpose, 'USER', 'and the fields after the password still read');
    assert.equal(c.purpose, 'GENERAL');
    const odd = applyStreamText(s, 'STREAM 3 NEW 0 example.com:443 SOCKS_USERNAME="a SOCKS_PASSWORD=b" SOCKS_PASSWORD=s3cret', 7);
    assert.ok(!JSON.stringify(Object.entries(odd)).includes('s3cret'));
    assert.equal(odd.socksUsername, 'a SOCKS_PASSWORD=b', 'a value that only contains the words is left alone');
    const broken = applyStreamText(s, 'STREAM 4 NEW 0 example.com:443 SOCKS_PASSWORD="s3cret', 7);
    assert.ok(!JSON.stringify(Object.entries(broken)).includes('s3cret'), 'nor is an unterminated one kept');
  });

  it('masks every form of SOCKS_PASSWORD and reads the rest as the parser does', () => {
    const forms = [
      'SOCKS_PASSWORD=s3cret',
      'SOCKS_PASSWORD="s3cret"',
      'SOCKS_PASSWORD="s3cret with spaces"',
      'SOCKS_PASSWORD="s3cret \\"escaped\\""',
      'SOCKS_USERNAME="u" SOCKS_PASSWORD="s3cret"',
      'SOCKS_USERNAME="a SOCKS_PASSWORD=b" SOCKS_PASSWORD=s3cret',
      'SOCKS_PASSWORD=s3cret SOCKS_PASSWORD="s3cret2"',
      'SOCKS_PASSWORD="s3cret"x',
      'SOCKS_PASSWORD="s3cret',
      'SOCKS_PASSWORD=',
    ];
    for (const form of forms) {
      for (const text of [`STREAM 1 NEW 0 example.com:443 ${form} PURPOSE=USER`, `CIRC 2 BUILT ${ln('auth0')} ${form} PURPOSE=GENERAL`]) {
        const parsed = createSnapshot();
        const asText = createSnapshot();
        reduce(parsed, ev(text));
        applyAsText(asText, text);
        const held = [...asText.streams.values(), ...asText.circuits.values()];
        assert.ok(!JSON.stringify(held.map((o) => Object.entries(o))).includes('s3cret'), `kept unread: ${text}`);
        const readable = !(ev(text).generic ?? false);
        if (readable) assert.deepEqual(dumpAll(asText), dumpAll(parsed), text);
        assert.ok(!JSON.stringify(dumpAll(asText)).includes('s3cret'), `read: ${text}`);
      }
    }
  });

  it('takes any text: a clear TorProtocolError or an applied event, and fields that read without throwing (property)', () => {
    const piece = fc.oneof(
      fc.constantFrom('5', '0', 'BUILT', 'NEW', 'CLOSED', 'example.com:443', ':', '"', '\\', '=', ',', '$', ln('auth0'), 'PURPOSE=', 'SOCKS_PASSWORD=', 'EXPIRES="', 'NEVER', '2026-11-25 10:00:00'),
      fc.string({ maxLength: 8 }),
    );
    const text = fc.tuple(fc.constantFrom('CIRC ', 'STREAM ', 'ADDRMAP '), fc.array(piece, { maxLength: 10 }), fc.array(fc.constantFrom(' ', ''), { maxLength: 10 }))
      .map(([name, pieces, gaps]) => name + pieces.map((p, i) => p + (gaps[i] ?? ' ')).join(''));
    fc.assert(
      fc.property(fc.array(text, { maxLength: 20 }), (texts) => {
        const s = createSnapshot();
        s.onUnreadable = (err) => assert.ok(err instanceof TorProtocolError, String(err));
        for (const t of texts) applyAsText(s, t);
        dumpAll(s);
      }),
      { numRuns: 500 },
    );
  });

  it('a GUARD event that repeats a guard\'s status changes nothing (no guardsChanged for it)', () => {
    const s = createSnapshot();
    loadInitialState(s, RECORDED_INFO);
    const down = ev(`GUARD ENTRY ${ln('auth0')} DOWN`);
    assert.equal(applyGuardEvent(s, down as GuardEvent), true);
    const before = s.guards;
    assert.equal(applyGuardEvent(s, ev(`GUARD ENTRY ${ln('auth0')} DOWN`) as GuardEvent), false);
    assert.equal(s.guards, before, 'the same list');
    assert.equal(applyGuardEvent(s, ev(`GUARD ENTRY ${ln('auth0')} UP`) as GuardEvent), true);
  });

  it('clears HS_STATE and REND_QUERY when a later event gives a purpose without them (as tor 0.4.9 does)', () => {
    const onion = 'abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx';
    for (const asText of [false, true]) {
      const s = createSnapshot();
      const apply = (t: string) => (asText && t.startsWith('CIRC ') ? applyCircText(s, t, 5) : reduce(s, ev(t)));
      apply(`CIRC 11 BUILT ${ln('auth0')} PURPOSE=HS_SERVICE_INTRO HS_STATE=HSSI_CONNECTING REND_QUERY=${onion}`);
      const c = s.circuits.get('11')!;
      assert.equal(c.hsState, 'HSSI_CONNECTING');
      assert.equal(c.rendQuery, onion);
      apply(`CIRC_MINOR 11 PURPOSE_CHANGED ${ln('auth0')} PURPOSE=HS_VANGUARDS OLD_PURPOSE=HS_SERVICE_INTRO OLD_HS_STATE=HSSI_CONNECTING`);
      assert.deepEqual([c.purpose, c.hsState, c.rendQuery], ['HS_VANGUARDS', undefined, undefined], `as text: ${asText}`);
      apply(`CIRC 12 BUILT ${ln('auth1')} PURPOSE=HS_CLIENT_INTRO HS_STATE=HSCI_DONE REND_QUERY=${onion}`);
      apply(`CIRC 12 BUILT ${ln('auth1')} PURPOSE=CIRCUIT_PADDING REND_QUERY=${onion}`);
      const p = s.circuits.get('12')!;
      assert.deepEqual([p.purpose, p.hsState, p.rendQuery], ['CIRCUIT_PADDING', undefined, onion], `as text: ${asText}`);
      // No purpose (no extended events): nothing said about the others.
      apply(`CIRC 12 BUILT ${ln('auth1')}`);
      assert.deepEqual([p.purpose, p.rendQuery], ['CIRCUIT_PADDING', onion]);
    }
  });

  it('keeps its invariants under any sequence of circuit and stream events (property)', () => {
    const circStatus = fc.constantFrom('LAUNCHED', 'EXTENDED', 'BUILT', 'GUARD_WAIT', 'FAILED', 'CLOSED');
    const streamStatus = fc.constantFrom('NEW', 'NEWRESOLVE', 'SENTCONNECT', 'REMAP', 'SUCCEEDED', 'DETACHED', 'CONTROLLER_WAIT', 'FAILED', 'CLOSED');
    const event = fc.oneof(
      fc.record({ kind: fc.constant('circ' as const), id: fc.integer({ min: 1, max: 6 }), status: circStatus, hops: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('stream' as const), id: fc.integer({ min: 1, max: 8 }), status: streamStatus, circ: fc.integer({ min: 0, max: 6 }) }),
    );
    const nicks = ['auth0', 'auth1', 'auth2'] as const;
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), (events) => {
        const s = createSnapshot();
        loadInitialState(s, EMPTY_INFO);
        for (const e of events) {
          const text =
            e.kind === 'circ'
              ? `CIRC ${e.id} ${e.status} ${nicks.slice(0, e.hops).map(ln).join(',')}`.trim()
              : `STREAM ${e.id} ${e.status} ${e.circ} example.com:443`;
          reduce(s, ev(text));
        }
        for (const c of s.circuits.values()) {
          assert.ok(!c.closed, 'no closed circuit is listed');
          for (const st of c.streams) {
            assert.equal(s.streams.get(st.id), st, 'a circuit lists only open streams');
            assert.equal(st.circuitId, c.id, 'and only its own');
          }
        }
        for (const st of s.streams.values()) {
          assert.ok(!st.closed, 'no closed stream is listed');
          const c = s.circuits.get(st.circuitId);
          if (c) assert.ok(c.streams.includes(st), 'an attached stream is in its circuit');
          if (st.circuitId === '0') assert.equal(st.circuit, undefined);
        }
        for (const [cid, set] of s.orphanStreams) {
          assert.ok(!s.circuits.has(cid), 'orphans wait only for unknown circuits');
          for (const st of set) {
            assert.equal(s.streams.get(st.id), st, 'orphans are open streams');
            assert.equal(st.circuitId, cid);
          }
        }
      }),
    );
  });

  it('applies CIRC, STREAM and ADDRMAP text as the parsed events would, for any sequence (property)', () => {
    const hops = ['auth0', 'auth1', 'auth2', 'auth3'] as const;
    const circ = fc.record({
      id: fc.integer({ min: 1, max: 5 }),
      status: fc.constantFrom('LAUNCHED', 'EXTENDED', 'BUILT', 'GUARD_WAIT', 'FAILED', 'CLOSED'),
      hops: fc.integer({ min: 0, max: 4 }),
      extras: fc.subarray([
        'BUILD_FLAGS=NEED_CAPACITY,IS_INTERNAL',
        'PURPOSE=GENERAL',
        'PURPOSE=HS_VANGUARDS',
        'HS_STATE=HSCI_CONNECTING',
        'REND_QUERY=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz2345',
        'TIME_CREATED=2026-11-25T10:00:00.123456',
        'REASON=FINISHED',
        'REMOTE_REASON=DESTROYED',
        'SOCKS_USERNAME="user one"',
        'SOCKS_PASSWORD="secret"',
        'SOMETHING_NEW=1',
      ]),
    });
    const stream = fc.record({
      id: fc.integer({ min: 1, max: 6 }),
      status: fc.constantFrom('NEW', 'NEWRESOLVE', 'SENTCONNECT', 'REMAP', 'SUCCEEDED', 'DETACHED', 'FAILED', 'CLOSED', 'CONTROLLER_WAIT'),
      circ: fc.integer({ min: 0, max: 5 }),
      target: fc.constantFrom('example.com:443', '93.184.216.34:443', '[2001:db8::1]:80', 'www.example.org:0'),
      extras: fc.subarray([
        'REASON=DONE',
        'REMOTE_REASON=END',
        'SOURCE=EXIT',
        'SOURCE_ADDR=127.0.0.1:40000',
        'PURPOSE=USER',
        'CLIENT_PROTOCOL=SOCKS5',
        'NYM_EPOCH=3',
        'SESSION_GROUP=-2',
        'SOCKS_USERNAME="u"',
        'ISO_FIELDS=SOCKS_USERNAME',
      ]),
    });
    const addrmap = fc.record({
      address: fc.constantFrom('example.com', 'www.example.org', '10.0.0.1'),
      to: fc.constantFrom('192.0.2.1', '<error>', 'example.net'),
      expiry: fc.constantFrom('NEVER', '"2026-11-25 10:00:00"', '"2030-01-01 00:00:00"'),
      extras: fc.subarray(['error=yes', 'EXPIRES="2026-11-25 09:00:00"', 'EXPIRES="bad time"', 'CACHED="YES"', 'CACHED="NO"', 'STREAMID=12', 'OTHER=1']),
    });
    const event = fc.oneof(
      addrmap.map((e) => `ADDRMAP ${e.address} ${e.to} ${e.expiry} ${e.extras.join(' ')}`.trim()),
      circ.map((e) => `CIRC ${e.id} ${e.status} ${hops.slice(0, e.hops).map(ln).join(',')} ${e.extras.join(' ')}`.replace(/ +/g, ' ').trim()),
      stream.map((e) => `STREAM ${e.id} ${e.status} ${e.circ} ${e.target} ${e.extras.join(' ')}`.trim()),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 50 }), fc.array(fc.nat(), { maxLength: 10 }), (events, readsAt) => {
        const parsed = createSnapshot();
        const asText = createSnapshot();
        const reports: unknown[] = [];
        asText.onUnreadable = (err) => reports.push(err);
        for (const s of [parsed, asText]) loadInitialState(s, EMPTY_INFO);
        events.forEach((text, i) => {
          reduce(parsed, ev(text));
          assert.ok(applyAsText(asText, text), text);
          // Reading fields in the middle must not change what later texts make of them.
          if (readsAt.includes(i)) dumpAll(asText);
        });
        assert.deepEqual(dumpAll(asText), dumpAll(parsed));
        assert.deepEqual(reports, [], 'every text was readable');
      }),
    );
  });

  it('names each unlisted hop as the latest event does, also after the path was read', () => {
    const s = createSnapshot();
    const c = applyCircText(s, 'CIRC 3 LAUNCHED positional', 5);
    assert.deepEqual(c.path.map((r) => r.nickname), ['positional']);
    applyCircText(s, 'CIRC 3 EXTENDED nickonly', 5);
    assert.deepEqual(c.path.map((r) => r.nickname), ['nickonly'], 'not the placeholder made for the earlier name');
    const same = c.path[0];
    applyCircText(s, 'CIRC 3 BUILT nickonly', 5);
    assert.equal(c.path[0], same, 'the placeholder is kept while the hop is the same');
  });

  it('reads a kept text only when a field is asked for, and reports one that does not parse', () => {
    const s = createSnapshot();
    const reports: Array<[unknown, string, string]> = [];
    s.onUnreadable = (err, event, text) => reports.push([err, event, text]);
    const c = applyCircText(s, `CIRC 7 EXTENDED ${ln('auth0')} PURPOSE=GENERAL REASON=FIRST`, 5);
    applyCircText(s, 'CIRC 7 BUILT PURPOSE="unterminated', 5);
    assert.equal(c.status, 'BUILT', 'the status is applied at once');
    assert.equal(reports.length, 0, 'nothing is parsed before a field is read');
    assert.equal(c.purpose, 'GENERAL', 'the unreadable text is skipped: earlier fields stay');
    assert.equal(c.reason, 'FIRST');
    assert.equal(reports.length, 1);
    const [err, event, text] = reports[0]!;
    assert.ok(err instanceof TorProtocolError);
    assert.equal(event, 'CIRC');
    assert.equal(text, 'CIRC 7 BUILT PURPOSE="unterminated');
    assert.equal(c.purpose, 'GENERAL', 'and it is reported once');
    assert.equal(reports.length, 1);
  });

  it('refuses a CIRC or STREAM text whose id, status, circuit or target is unreadable, changing nothing', () => {
    const s = createSnapshot();
    for (const [text, start] of [
      ['CIRC', 5],
      ['CIRC ', 5],
      ['CIRC 5', 5],
      ['STREAM 1 NEW', 7],
      ['STREAM 1 NEW 0', 7],
      ['STREAM 1 NEW 0 example.com', 7],
      ['STREAM 1 NEW 0 example.com:70000', 7],
      ['ADDRMAP example.com', 8],
      ['ADDRMAP example.com 192.0.2.1', 8],
      ['ADDRMAP example.com 192.0.2.1 tomorrow', 8],
      ['ADDRMAP example.com 192.0.2.1 "not a time"', 8],
      ['ADDRMAP example.com 192.0.2.1 NEVER CACHED="YES', 8],
    ] as const) {
      const apply = text.startsWith('CIRC') ? applyCircText : text.startsWith('STREAM') ? applyStreamText : applyAddrMapText;
      assert.throws(() => apply(s, text, start), TorProtocolError, text);
      assert.throws(() => reduceOrThrow(text), TorProtocolError, `the parser refuses ${text} too`);
    }
    assert.equal(s.circuits.size + s.streams.size + s.recentlyClosed.size + s.addressMap.size, 0);
  });

  it(`keeps at most ${MAX_UNREAD} unread texts per circuit or stream, reading them when there are more`, () => {
    const s = createSnapshot();
    const reports: unknown[] = [];
    s.onUnreadable = (err) => reports.push(err);
    applyStreamText(s, 'STREAM 3 NEW 0 example.com:443 PURPOSE="broken', 7);
    for (let i = 1; i < MAX_UNREAD - 1; i++) applyStreamText(s, `STREAM 3 SENTCONNECT 0 example.com:${i}`, 7);
    assert.equal(reports.length, 0, `${MAX_UNREAD - 1} texts are kept unread`);
    applyStreamText(s, 'STREAM 3 SUCCEEDED 0 example.com:443', 7);
    assert.equal(reports.length, 1, `the ${MAX_UNREAD}th is read with the others, no field asked for`);
    assert.deepEqual(s.streams.get('3')!.target, { host: 'example.com', port: 443 });
  });

  it('keeps a text given in status-line form as a copy, not a slice of the string it came in', () => {
    // Event texts are kept as they come (TorControl decodes each line to a string of its own); a
    // circuit-status or stream-status line is kept as a copy in the event form, since a slice would
    // keep the whole string it was cut from (64 KiB here) alive as long as the circuit or stream.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const s = createSnapshot();
    const n = 300;
    const apply = (i: number) => {
      const line = i % 2 === 0 ? `${i} BUILT ${ln('auth0')} PURPOSE=GENERAL` : `${i} NEW 0 example.com:443 PURPOSE=USER`;
      const read = Buffer.alloc(65536, `${line}\r\n`).toString('latin1');
      if (i % 2 === 0) applyCircText(s, read.slice(0, line.length), 0);
      else applyStreamText(s, read.slice(0, line.length), 0);
    };
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < n; i++) apply(i);
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    assert.equal(s.circuits.size + s.streams.size, n);
    assert.ok(grown < (n * 65536) / 8, `the state grew by ${grown} bytes for ${n} lines of 64 KiB strings`);
    assert.equal(s.circuits.get('0')!.purpose, 'GENERAL');
    assert.equal(s.streams.get('1')!.purpose, 'USER');
    assert.deepEqual(s.streams.get('1')!.target, { host: 'example.com', port: 443 });
  });

});
