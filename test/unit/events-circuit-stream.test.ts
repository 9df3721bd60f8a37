import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TorProtocolError } from '../../src/errors.js';
import type { ControlReply } from '../../src/control/reply.js';
import { parseEvent } from '../../src/control/events/parse-event.js';
import { parseCircuitStatusLine } from '../../src/control/events/circuit-events.js';
import { parseStreamStatusLine } from '../../src/control/events/stream-events.js';
import type { TorEvent, TorEventMap, TorEventName } from '../../src/control/events/event-types.js';

const FP_A = '790CDA8DBC6E3EE6A0047D6AED870A7720C5A38A';
const FP_B = 'B537D3BAA4B911EDADA812C3FBCE4B7D12855468';
const FP_C = '433CDA3CA6B6CFEAB6033BEA8C103D2E7F708CE4';

function reply(text: string): ControlReply {
  return { status: 650, lines: [{ status: 650, separator: ' ', text }] };
}

/** Parses a one-line event and asserts it came out typed as `type`. */
function typed<K extends TorEventName>(type: K, text: string): TorEventMap[K] {
  const e: TorEvent = parseEvent(reply(text));
  assert.equal(e.generic, undefined, `expected a typed ${type}, got generic: ${'parseError' in e ? e.parseError : ''}`);
  assert.equal(e.type, type);
  assert.equal(e.raw, text);
  return e as TorEventMap[K];
}

describe('events: CIRC', () => {
  it('parses a BUILT circuit with path, flags, purpose and creation time', () => {
    const text =
      `CIRC 1 BUILT $${FP_A}~nick1,$${FP_B}~nick2 BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL ` +
      'TIME_CREATED=2026-11-25T15:00:00.123456';
    const e = typed('CIRC', text);
    assert.equal(e.circuitId, '1');
    assert.equal(e.status, 'BUILT');
    assert.deepEqual(
      e.path.map((h) => ({ ...h })),
      [
        { fingerprint: FP_A, nickname: 'nick1' },
        { fingerprint: FP_B, nickname: 'nick2' },
      ],
    );
    assert.deepEqual(e.buildFlags, ['NEED_CAPACITY']);
    assert.equal(e.purpose, 'GENERAL');
    assert.equal(e.timeCreated?.getTime(), Date.UTC(2026, 10, 25, 15, 0, 0, 123));
    assert.deepEqual({ ...e.extra }, {});
    for (const absent of ['hsState', 'rendQuery', 'reason', 'remoteReason', 'socksUsername', 'socksPassword'] as const) {
      assert.equal(e[absent], undefined, absent);
    }
  });

  it('parses LAUNCHED without a path', () => {
    const e = typed('CIRC', 'CIRC 322 LAUNCHED BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY PURPOSE=PATH_BIAS_TESTING TIME_CREATED=2024-06-01T00:15:02.574483');
    assert.equal(e.status, 'LAUNCHED');
    assert.deepEqual(e.path, []);
    assert.deepEqual(e.buildFlags, ['IS_INTERNAL', 'NEED_CAPACITY']);
    assert.equal(e.purpose, 'PATH_BIAS_TESTING');
    assert.equal(e.timeCreated?.toISOString(), '2024-06-01T00:15:02.574Z');
  });

  it('parses CLOSED with reasons and SOCKS credentials', () => {
    const e = typed(
      'CIRC',
      `CIRC 107 CLOSED $${FP_A}~freebox86,$${FP_B}~freiat,$${FP_C}~silentexit237 BUILD_FLAGS=NEED_CAPACITY ` +
        'PURPOSE=GENERAL TIME_CREATED=2024-06-01T00:04:37.370508 REASON=DESTROYED REMOTE_REASON=FINISHED ' +
        'SOCKS_USERNAME="music.test" SOCKS_PASSWORD="4f43c0455615f5d0e513e0bff3328e6d"',
    );
    assert.equal(e.status, 'CLOSED');
    assert.equal(e.path.length, 3);
    assert.equal(e.path[2]!.nickname, 'silentexit237');
    assert.equal(e.reason, 'DESTROYED');
    assert.equal(e.remoteReason, 'FINISHED');
    assert.equal(e.socksUsername, 'music.test');
    assert.equal(e.socksPassword, '4f43c0455615f5d0e513e0bff3328e6d');
  });

  it('parses onion-service fields, HS_POW and conflux fields', () => {
    const e = typed(
      'CIRC',
      `CIRC 9 BUILT $${FP_A}~a,$${FP_B}~b,$${FP_C}~c BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY,NEED_UPTIME ` +
        'PURPOSE=HS_CLIENT_REND HS_STATE=HSCR_JOINED REND_QUERY=ajlc4rtw3eqbaoy5zvpwhxg2fcy4lcb5rbfsatuwmf2wrg4agr7xifqd ' +
        'TIME_CREATED=2026-01-02T03:04:05.000001 HS_POW=v1,120 CONFLUX_ID=A1B2 CONFLUX_RTT=57',
    );
    assert.equal(e.hsState, 'HSCR_JOINED');
    assert.equal(e.rendQuery, 'ajlc4rtw3eqbaoy5zvpwhxg2fcy4lcb5rbfsatuwmf2wrg4agr7xifqd');
    assert.deepEqual(e.hsPow, { type: 'v1', effort: 120 });
    assert.equal(e.confluxId, 'A1B2');
    assert.equal(e.confluxRtt, 57);
    assert.deepEqual(e.buildFlags, ['IS_INTERNAL', 'NEED_CAPACITY', 'NEED_UPTIME']);
  });

  it('keeps unknown keywords and malformed typed values in extra', () => {
    const e = typed(
      'CIRC',
      `CIRC 5 EXTENDED $${FP_A}~x NEW_THING=1 PURPOSE=SOMETHING_NEW TIME_CREATED=yesterday QUOTED="a b" HS_POW=v1`,
    );
    assert.equal(e.purpose, 'SOMETHING_NEW');
    assert.equal(e.timeCreated, undefined);
    assert.equal(e.hsPow, undefined);
    assert.deepEqual({ ...e.extra }, { NEW_THING: '1', TIME_CREATED: 'yesterday', QUOTED: 'a b', HS_POW: 'v1' });
  });

  it('accepts statuses it does not know (control-spec 1.1)', () => {
    assert.equal(typed('CIRC', 'CIRC 5 REBORN').status, 'REBORN');
  });

  it('accepts legacy path forms: nicknames, $FP=nick, bare $FP, lower-case hex', () => {
    const e = typed('CIRC', `CIRC 1000 EXTENDED moria1,$${FP_A}=named,$${FP_B},$${FP_C.toLowerCase()}~low`);
    assert.deepEqual(
      e.path.map((h) => ({ ...h })),
      [
        { fingerprint: '', nickname: 'moria1' },
        { fingerprint: FP_A, nickname: 'named' },
        { fingerprint: FP_B, nickname: undefined },
        { fingerprint: FP_C, nickname: 'low' },
      ],
    );
  });

  it('shares frozen relay references between events', () => {
    const a = typed('CIRC', `CIRC 1 EXTENDED $${FP_A}~same`);
    const b = typed('CIRC', `CIRC 2 BUILT $${FP_A}~same,$${FP_B}~other`);
    assert.equal(a.path[0], b.path[0]);
    assert.ok(Object.isFrozen(a.path[0]));
  });

  it('tells apart relays whose fingerprints share the cache index', () => {
    // Same leading hex digits: the same cache slot, so each lookup must verify the whole name.
    const fps = ['ABCDEF' + '0'.repeat(34), 'ABCDEF' + '1'.repeat(34), 'ABCDEF' + 'F'.repeat(34)];
    for (let round = 0; round < 3; round++) {
      for (const fp of fps) {
        for (const nick of ['n1', 'n2']) {
          const e = typed('CIRC', `CIRC 1 EXTENDED $${fp}~${nick}`);
          assert.deepEqual({ ...e.path[0]! }, { fingerprint: fp, nickname: nick });
        }
      }
    }
  });

  it('parses times exactly, whatever the cache holds', () => {
    const date = fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2199-12-31T23:59:59Z'), noInvalidDate: true });
    fc.assert(
      fc.property(date, fc.integer({ min: 0, max: 999_999 }), (d, micros) => {
        const iso = d.toISOString().slice(0, 19);
        const frac = String(micros).padStart(6, '0');
        const e = typed('CIRC', `CIRC 1 LAUNCHED TIME_CREATED=${iso}.${frac}`);
        assert.equal(e.timeCreated?.getTime(), Date.parse(`${iso}.${frac.slice(0, 3)}Z`));
      }),
      { numRuns: 2000 },
    );
  });

  it('gives each event its own Date object', () => {
    const a = typed('CIRC', 'CIRC 1 LAUNCHED TIME_CREATED=2026-11-25T15:00:00.123456');
    const b = typed('CIRC', 'CIRC 1 EXTENDED TIME_CREATED=2026-11-25T15:00:00.123456');
    assert.notEqual(a.timeCreated, b.timeCreated);
    assert.equal(a.timeCreated?.getTime(), b.timeCreated?.getTime());
  });

  it('tolerates extra positional arguments and extra lines (control-spec 4.1)', () => {
    const e = parseEvent({
      status: 650,
      lines: [
        { status: 650, separator: '-', text: 'CIRC 1000 EXTENDED moria1,moria2 0xBEEF' },
        { status: 650, separator: '-', text: 'EXTRAMAGIC=99' },
        { status: 650, separator: ' ', text: 'ANONYMITY=high' },
      ],
    });
    assert.ok(!e.generic && e.type === 'CIRC');
    assert.equal(e.circuitId, '1000');
    assert.equal(e.status, 'EXTENDED');
    assert.deepEqual(
      e.path.map((h) => h.nickname),
      ['moria1', 'moria2'],
    );
    assert.deepEqual({ ...e.extra }, { EXTRAMAGIC: '99', ANONYMITY: 'high' });
    assert.equal(e.raw, 'CIRC 1000 EXTENDED moria1,moria2 0xBEEF\nEXTRAMAGIC=99\nANONYMITY=high');
  });

  const malformed: string[] = [
    'CIRC',
    'CIRC 1',
    `CIRC 1 BUILT $${FP_A.slice(0, 39)}~short`,
    'CIRC 1 BUILT $ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ~bad',
    `CIRC 1 BUILT $${FP_A}~a,,$${FP_B}`,
    `CIRC 1 BUILT $${FP_A}~`,
    'CIRC 1 BUILT PURPOSE="unterminated',
  ];
  for (const text of malformed) {
    it(`turns malformed ${JSON.stringify(text.slice(0, 40))} into a generic event`, () => {
      const e = parseEvent(reply(text));
      assert.equal(e.generic, true);
      assert.equal(e.type, 'CIRC');
      assert.equal(e.raw, text);
      assert.ok(e.generic && typeof e.parseError === 'string' && e.parseError.length > 0);
    });
  }
});

describe('events: CIRC_MINOR', () => {
  it('parses PURPOSE_CHANGED with old purpose and state', () => {
    const e = typed(
      'CIRC_MINOR',
      `CIRC_MINOR 12 PURPOSE_CHANGED $${FP_A}~a,$${FP_B}~b BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY PURPOSE=HS_CLIENT_REND ` +
        'HS_STATE=HSCR_CONNECTING TIME_CREATED=2026-11-25T15:00:00.000000 OLD_PURPOSE=HS_VANGUARDS OLD_HS_STATE=HSCI_DONE',
    );
    assert.equal(e.circuitId, '12');
    assert.equal(e.event, 'PURPOSE_CHANGED');
    assert.equal(e.path.length, 2);
    assert.equal(e.purpose, 'HS_CLIENT_REND');
    assert.equal(e.hsState, 'HSCR_CONNECTING');
    assert.equal(e.oldPurpose, 'HS_VANGUARDS');
    assert.equal(e.oldHsState, 'HSCI_DONE');
    assert.equal(e.timeCreated?.getTime(), Date.UTC(2026, 10, 25, 15));
  });

  it('reads CONFLUX_ID when a leg is linked (as tor 0.4.9 sends it), keeps what it does not know', () => {
    const created = '2026-11-26T06:34:08.529791';
    const words = [`CIRC_MINOR 11 PURPOSE_CHANGED $${FP_A}~a,$${FP_B}~b`, 'PURPOSE=CONFLUX_LINKED', `TIME_CREATED=${created}`];
    const e = typed('CIRC_MINOR', [...words, 'CONFLUX_ID=1F15D970AB', 'OLD_PURPOSE=CONFLUX_UNLINKED', `OLD_TIME_CREATED=${created}`].join(' '));
    assert.deepEqual([e.confluxId, e.oldPurpose, { ...e.extra }], ['1F15D970AB', 'CONFLUX_UNLINKED', { OLD_TIME_CREATED: created }]);
  });

  it('parses CANNIBALIZED', () => {
    const e = typed('CIRC_MINOR', `CIRC_MINOR 7 CANNIBALIZED $${FP_A}~a PURPOSE=GENERAL OLD_PURPOSE=GENERAL`);
    assert.equal(e.event, 'CANNIBALIZED');
    assert.equal(e.oldPurpose, 'GENERAL');
  });
});

describe('events: STREAM', () => {
  it('parses NEW with source address and purpose', () => {
    const e = typed('STREAM', 'STREAM 12 NEW 0 example.com:443 SOURCE_ADDR=127.0.0.1:51234 PURPOSE=USER');
    assert.equal(e.streamId, '12');
    assert.equal(e.status, 'NEW');
    assert.equal(e.circuitId, '0');
    assert.deepEqual(e.target, { host: 'example.com', port: 443 });
    assert.deepEqual(e.sourceAddr, { host: '127.0.0.1', port: 51234 });
    assert.equal(e.purpose, 'USER');
    assert.deepEqual({ ...e.extra }, {});
  });

  it('parses the isolation fields of a SOCKS stream', () => {
    const e = typed(
      'STREAM',
      'STREAM 1977 NEW 0 video.techdaily.example.org:443 SOURCE_ADDR=127.0.0.1:41959 PURPOSE=USER ' +
        'SOCKS_USERNAME="techdaily.example.org" SOCKS_PASSWORD="9ae797e94f29ee07c4f5c4aa3dbe58e2" ' +
        'CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=3 SESSION_GROUP=-2 ' +
        'ISO_FIELDS=SOCKS_USERNAME,SOCKS_PASSWORD,CLIENTADDR,SESSION_GROUP,NYM_EPOCH',
    );
    assert.equal(e.socksUsername, 'techdaily.example.org');
    assert.equal(e.socksPassword, '9ae797e94f29ee07c4f5c4aa3dbe58e2');
    assert.equal(e.clientProtocol, 'SOCKS5');
    assert.equal(e.nymEpoch, 3);
    assert.equal(e.sessionGroup, -2);
    assert.deepEqual(e.isoFields, ['SOCKS_USERNAME', 'SOCKS_PASSWORD', 'CLIENTADDR', 'SESSION_GROUP', 'NYM_EPOCH']);
  });

  it('parses REMAP with an IPv6 target and source', () => {
    const e = typed('STREAM', 'STREAM 2091 REMAP 244 [2001:db8:2bb2:b095::5808]:0 SOURCE=EXIT');
    assert.deepEqual(e.target, { host: '2001:db8:2bb2:b095::5808', port: 0 });
    assert.equal(e.source, 'EXIT');
    assert.equal(e.circuitId, '244');
  });

  it('parses CLOSED and FAILED with reasons', () => {
    const closed = typed('STREAM', 'STREAM 5 CLOSED 9 example.com:80 REASON=END REMOTE_REASON=DONE');
    assert.equal(closed.reason, 'END');
    assert.equal(closed.remoteReason, 'DONE');
    const failed = typed('STREAM', 'STREAM 6 FAILED 9 10.0.0.1:80 REASON=PRIVATE_ADDR');
    assert.equal(failed.reason, 'PRIVATE_ADDR');
  });

  it('parses internal and .exit targets', () => {
    const dir = typed(
      'STREAM',
      `STREAM 1963 NEW 0 192.0.2.171.$${FP_A}.exit:9001 SOURCE_ADDR=(Tor_internal):0 PURPOSE=DIR_FETCH`,
    );
    assert.deepEqual(dir.target, { host: `192.0.2.171.$${FP_A}.exit`, port: 9001 });
    assert.deepEqual(dir.sourceAddr, { host: '(Tor_internal)', port: 0 });
    assert.equal(dir.purpose, 'DIR_FETCH');
    const internal = typed('STREAM', 'STREAM 3 SUCCEEDED 4 (Tor_internal):0');
    assert.deepEqual(internal.target, { host: '(Tor_internal)', port: 0 });
  });

  it('accepts an unbracketed IPv6 target, as tor writes some', () => {
    const e = typed('STREAM', 'STREAM 8 SENTCONNECT 3 2001:db8::1:443');
    assert.deepEqual(e.target, { host: '2001:db8::1', port: 443 });
  });

  it('accepts newer statuses and keeps unknown keywords', () => {
    const e = typed('STREAM', 'STREAM 8 XOFF_SENT 3 example.com:443 NEWKEY="a b" NYM_EPOCH=x');
    assert.equal(e.status, 'XOFF_SENT');
    assert.equal(e.nymEpoch, undefined);
    assert.deepEqual({ ...e.extra }, { NEWKEY: 'a b', NYM_EPOCH: 'x' });
  });

  const malformed = [
    'STREAM',
    'STREAM 1 NEW',
    'STREAM 1 NEW 0',
    'STREAM 1 NEW 0 example.com',
    'STREAM 1 NEW 0 example.com:http',
    'STREAM 1 NEW 0 example.com:70000',
  ];
  for (const text of malformed) {
    it(`turns malformed ${JSON.stringify(text)} into a generic event`, () => {
      const e = parseEvent(reply(text));
      assert.ok(e.generic && e.type === 'STREAM' && e.parseError);
    });
  }
});

describe('events: STREAM_BW', () => {
  it('parses written, read (in wire order) and time', () => {
    const e = typed('STREAM_BW', 'STREAM_BW 23 1024 2048 2026-11-25T15:00:00.500000');
    assert.equal(e.streamId, '23');
    assert.equal(e.written, 1024);
    assert.equal(e.read, 2048);
    assert.equal(e.time?.getTime(), Date.UTC(2026, 10, 25, 15, 0, 0, 500));
  });

  it('accepts the form without time (tor < 0.3.2.1)', () => {
    const e = typed('STREAM_BW', 'STREAM_BW 23 1 2');
    assert.equal(e.time, undefined);
  });

  it('rejects bad byte counts', () => {
    assert.equal(parseEvent(reply('STREAM_BW 23 x 2')).generic, true);
  });
});

describe('GETINFO circuit-status and stream-status lines', () => {
  it('parses a circuit-status line like a CIRC event', () => {
    const line = `107 BUILT $${FP_A}~freebox86,$${FP_B}~freiat BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL TIME_CREATED=2024-06-01T00:04:37.370508 SOCKS_USERNAME="music.test"`;
    const e = parseCircuitStatusLine(line);
    assert.equal(e.type, 'CIRC');
    assert.equal(e.raw, line);
    assert.equal(e.circuitId, '107');
    assert.equal(e.status, 'BUILT');
    assert.equal(e.path.length, 2);
    assert.equal(e.socksUsername, 'music.test');
    const viaEvent = typed('CIRC', `CIRC ${line}`);
    assert.deepEqual({ ...e, raw: '' }, { ...viaEvent, raw: '' });
  });

  it('parses a stream-status line like a STREAM event', () => {
    const e = parseStreamStatusLine('874 SUCCEEDED 143 203.0.113.215:443');
    assert.equal(e.type, 'STREAM');
    assert.equal(e.streamId, '874');
    assert.equal(e.status, 'SUCCEEDED');
    assert.equal(e.circuitId, '143');
    assert.deepEqual(e.target, { host: '203.0.113.215', port: 443 });
  });

  it('throws TorProtocolError for malformed lines', () => {
    for (const fn of [
      () => parseCircuitStatusLine(''),
      () => parseCircuitStatusLine('107'),
      () => parseStreamStatusLine('874 SUCCEEDED 143'),
    ]) {
      assert.throws(fn, TorProtocolError);
    }
  });
});
