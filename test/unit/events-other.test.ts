import assert from 'node:assert/strict';
import { TorProtocolError } from '../../src/errors.js';
import type { ControlReply, ReplyLine } from '../../src/control/reply.js';
import { parseEvent, parseEventLine } from '../../src/control/events/parse-event.js';
import fc from 'fast-check';
import { isPlainAddrMap, parseAddrMapLine, scanAddrMapTokens, scanUsualAddrMap, type AddrMapScan } from '../../src/control/events/addrmap-event.js';
import { parseOrConnStatusLine } from '../../src/control/events/bandwidth-events.js';
import type { TorEvent, TorEventMap, TorEventName } from '../../src/control/events/event-types.js';

const FP_A = '790CDA8DBC6E3EE6A0047D6AED870A7720C5A38A';
const FP_B = 'B537D3BAA4B911EDADA812C3FBCE4B7D12855468';

function line(separator: ReplyLine['separator'], text: string, data?: string): ReplyLine {
  return data === undefined ? { status: 650, separator, text } : { status: 650, separator, text, data };
}

function reply(...lines: ReplyLine[]): ControlReply {
  return { status: 650, lines };
}

function expectTyped<K extends TorEventName>(type: K, e: TorEvent): TorEventMap[K] {
  assert.equal(e.generic, undefined, `expected a typed ${type}, got generic: ${'parseError' in e ? e.parseError : ''}`);
  assert.equal(e.type, type);
  return e as TorEventMap[K];
}

/** Parses a one-line event and asserts it came out typed as `type`. */
function typed<K extends TorEventName>(type: K, text: string): TorEventMap[K] {
  const e = expectTyped(type, parseEvent(reply(line(' ', text))));
  assert.equal(e.raw, text);
  return e;
}

/**
 * Up to `max` ADDRMAP keywords: tor writes them in the order error=, EXPIRES=, CACHED=, STREAMID=,
 * and the lists mostly keep that order, sometimes not.
 */
function addrMapKeywords(keyword: fc.Arbitrary<string>, max: number): fc.Arbitrary<string[]> {
  const order = ['error=', 'EXPIRES=', 'CACHED=', 'STREAMID='];
  const rank = (k: string) => (order.findIndex((o) => k.startsWith(o)) + 5) % 5;
  return fc.oneof(
    fc.array(keyword, { maxLength: max }).map((ks) => [...ks].sort((a, b) => rank(a) - rank(b))),
    fc.array(keyword, { maxLength: max }),
  );
}

describe('events: ADDRMAP', () => {
  it('prefers the UTC EXPIRES keyword and reads CACHED and STREAMID', () => {
    const e = typed(
      'ADDRMAP',
      'ADDRMAP example.com 1.2.3.4 "2026-11-25 16:00:00" EXPIRES="2026-11-25 15:00:00" CACHED="NO" STREAMID=5',
    );
    assert.equal(e.address, 'example.com');
    assert.equal(e.newAddress, '1.2.3.4');
    assert.equal(e.expires?.getTime(), Date.UTC(2026, 10, 25, 15, 0, 0));
    assert.equal(e.cached, false);
    assert.equal(e.streamId, '5');
    assert.equal(e.error, undefined);
  });

  it('reads the positional expiry as local time when EXPIRES is absent', () => {
    const e = typed('ADDRMAP', 'ADDRMAP example.com 1.2.3.4 "2026-11-25 16:00:00"');
    assert.equal(e.expires?.getTime(), new Date(2026, 10, 25, 16, 0, 0).getTime());
    assert.equal(e.cached, undefined);
  });

  it('gives null for NEVER and for <error>', () => {
    const never = typed('ADDRMAP', 'ADDRMAP 1.2.3.4 torproject.org NEVER CACHED="YES"');
    assert.equal(never.expires, null);
    assert.equal(never.cached, true);
    const failed = typed(
      'ADDRMAP',
      'ADDRMAP code.example <error> "2024-06-01 00:20:01" error=yes EXPIRES="2024-06-01 00:20:01" CACHED="NO" STREAMID=2416',
    );
    assert.equal(failed.newAddress, null);
    assert.equal(failed.error, 'yes');
    assert.equal(failed.expires?.toISOString(), '2024-06-01T00:20:01.000Z');
  });

  it('maps IPv6 answers and keeps unknown keywords', () => {
    const e = typed('ADDRMAP', 'ADDRMAP v6.example 2001:db8::5 NEVER FUTURE=1');
    assert.equal(e.newAddress, '2001:db8::5');
    assert.deepEqual({ ...e.extra }, { FUTURE: '1' });
  });

  for (const text of ['ADDRMAP', 'ADDRMAP a', 'ADDRMAP a b', 'ADDRMAP a b tomorrow', 'ADDRMAP a b "2026-13-01 00:00:00"', 'ADDRMAP a b "2026-11-25']) {
    it(`turns malformed ${JSON.stringify(text)} into a generic event`, () => {
      const e = parseEvent(reply(line(' ', text)));
      assert.ok(e.generic && e.type === 'ADDRMAP' && e.parseError);
    });
  }

  it("reads tor's usual form with one regular expression exactly as the token scanner does", () => {
    const byTokens = (text: string, utc: boolean): AddrMapScan | 'refused' => {
      try {
        return { ...scanAddrMapTokens(text, 8, utc) };
      } catch (err) {
        assert.ok(err instanceof TorProtocolError);
        return 'refused';
      }
    };
    const usual = (text: string, utc: boolean): AddrMapScan | null => {
      const scan = scanUsualAddrMap(text, 8, utc);
      return scan === null ? null : { ...scan };
    };
    // tor's own forms: all read by the expression.
    for (const text of [
      'ADDRMAP forum.example 203.0.113.215 "2024-06-01 00:16:00" EXPIRES="2024-06-01 00:16:00" CACHED="NO" STREAMID=1858',
      'ADDRMAP code.example <error> "2024-06-01 00:20:01" error=yes EXPIRES="2024-06-01 00:20:01" CACHED="NO" STREAMID=2416',
      'ADDRMAP 1.2.3.4 torproject.org NEVER CACHED="YES"',
      'ADDRMAP example.com 1.2.3.4 "2026-11-25 16:00:00"',
    ]) {
      for (const utc of [false, true]) {
        const read = usual(text, utc);
        assert.notEqual(read, null, text);
        assert.deepEqual(read, byTokens(text, utc), text);
      }
    }
    // Any text built from tor's pieces and their near misses: where the expression reads it, it
    // reads what the token scanner reads (so that one did not refuse it either).
    const sep = fc.constantFrom(' ', ' ', '  ');
    const word = fc.constantFrom('example.com', '1.2.3.4', '<error>', '2001:db8::5', 'a"b', 'k=v', 'x\\y');
    const expiry = fc.constantFrom('"2024-06-01 00:16:00"', '"2024-06-01T00:16:00"', '"2024-13-01 00:16:00"', '"2024-06-01', 'NEVER', 'NEVERX', '');
    const keyword = fc.constantFrom(
      'error=yes', 'error="no answer"', 'error=', 'error=""', 'error="a\\"b"', 'error=a"b',
      'EXPIRES="2024-06-01 00:20:08"', 'EXPIRES="soon"', 'EXPIRES=2024-06-01',
      'CACHED="YES"', 'CACHED="NO"', 'CACHED="MAYBE"', 'CACHED=YES',
      'STREAMID=5', 'STREAMID=', 'FUTURE=1', '"', '\\', '=',
    );
    const keywords = addrMapKeywords(keyword, 5);
    let read = 0;
    fc.assert(
      fc.property(word, word, expiry, keywords, fc.array(sep, { minLength: 7, maxLength: 7 }), fc.boolean(), (from, to, exp, ks, spaces, utc) => {
        let text = 'ADDRMAP ' + from + spaces[0] + to + spaces[1] + exp;
        ks.forEach((k, n) => (text += spaces[2 + n]! + k));
        if (spaces[6] === '  ') text += ' ';
        const scan = usual(text, utc);
        if (scan === null) return;
        read++;
        assert.deepEqual(scan, byTokens(text, utc), text);
      }),
      { numRuns: 5000, seed: 20261126 },
    );
    assert.ok(read > 300, `the expression read ${read} of the generated texts`);
  });

  it('isPlainAddrMap: a text it takes reads without a fault, its address is the first word, and CACHED="NO" is seen by a search', () => {
    const sep = fc.constantFrom(' ', ' ', '  ');
    const word = fc.constantFrom('example.com', '1.2.3.4', '<error>', '2001:db8::5', 'a"b', 'k=v', 'x\\y', '*.example');
    const time = fc.constantFrom(
      '2024-06-01 00:16:00', '2024-06-01T00:16:00', '2024-06-01 00:16:00.5', '2024-12-31 23:59:60', '2024-02-31 00:00:00',
      '2024-13-01 00:16:00', '2024-06-00 00:16:00', '2024-06-01 24:00:00', '2024-06-01 00:60:00', '2024-06-01 00:16:61',
      '2024-06-01 00:16:00.', '2024-06-01x00:16:00', '2024-06-01', 'soon',
    );
    const expiry = fc.oneof(time.map((t) => `"${t}"`), fc.constantFrom('NEVER', 'NEVERX', ''));
    const keyword = fc.oneof(
      time.map((t) => `EXPIRES="${t}"`),
      fc.constantFrom(
        'error=yes', 'error="no answer"', 'error="CACHED=x"', 'error=', 'error=""', 'error="a\\"b"', 'error=a"b',
        'CACHED="YES"', 'CACHED="NO"', 'CACHED="MAYBE"', 'CACHED=NO', 'STREAMID=5', 'STREAMID=', 'FUTURE=1', '"', '\\', '=',
      ),
    );
    const keywords = addrMapKeywords(keyword, 4);
    let plain = 0;
    let oneOff = 0;
    fc.assert(
      fc.property(fc.constantFrom('', ' '), word, word, expiry, keywords, fc.array(sep, { minLength: 6, maxLength: 6 }), fc.boolean(), (lead, from, to, exp, ks, spaces, utc) => {
        let text = 'ADDRMAP ' + lead + from + spaces[0] + to + spaces[1] + exp;
        ks.forEach((k, n) => (text += spaces[2 + n]! + k));
        if (!isPlainAddrMap(text, 8)) return;
        plain++;
        const scan = scanUsualAddrMap(text, 8, utc);
        assert.notEqual(scan, null, text);
        assert.deepEqual({ ...scan! }, { ...scanAddrMapTokens(text, 8, utc) }, text);
        assert.equal(scan!.address, text.slice(8, text.indexOf(' ', 8)), text);
        assert.equal(text.includes(' CACHED="NO"', 8), scan!.cached === false, text);
        if (scan!.cached === false) oneOff++;
      }),
      { numRuns: 8000, seed: 20261126 },
    );
    assert.ok(plain > 300 && oneOff > 5, `took ${plain} of the generated texts, ${oneOff} of them CACHED="NO"`);
    // Each way a time can be unreadable is not plain: read at once, and refused or read another way.
    for (const bad of ['2024-13-01 00:16:00', '2024-06-01 24:00:00', '2024-06-01 00:16:61', '2024-06-01 00:16:00.']) {
      assert.equal(isPlainAddrMap(`ADDRMAP a.example 1.2.3.4 "${bad}"`, 8), false, bad);
      assert.equal(isPlainAddrMap(`ADDRMAP a.example 1.2.3.4 NEVER EXPIRES="${bad}"`, 8), false, bad);
    }
  });

  it('parses GETINFO address-mappings lines, whose expiry is UTC', () => {
    const e = parseAddrMapLine('api.example.com 2001:db8:72c9:6662::4195 "2024-06-01 00:18:24"');
    assert.equal(e.type, 'ADDRMAP');
    assert.equal(e.address, 'api.example.com');
    assert.equal(e.newAddress, '2001:db8:72c9:6662::4195');
    assert.equal(e.expires?.toISOString(), '2024-06-01T00:18:24.000Z');
    assert.equal(parseAddrMapLine('1.2.3.4 torproject.org NEVER').expires, null);
    assert.throws(() => parseAddrMapLine('1.2.3.4 torproject.org'), TorProtocolError);
  });
});

describe('events: BW, ORCONN and the other bandwidth events', () => {
  it('parses BW and keeps per-type counts in extra', () => {
    const e = typed('BW', 'BW 574626 48032');
    assert.equal(e.read, 574626);
    assert.equal(e.written, 48032);
    const marked = typed('BW', 'BW 0 0 BENCH_END=1 DIR=12');
    assert.deepEqual({ ...marked.extra }, { BENCH_END: '1', DIR: '12' });
  });

  it('rejects BW without numbers', () => {
    for (const text of ['BW', 'BW 1', 'BW a b', 'BW -1 2']) {
      assert.equal(parseEvent(reply(line(' ', text))).generic, true, text);
    }
  });

  it('parses ORCONN with a LongName', () => {
    const e = typed('ORCONN', `ORCONN $${FP_A}~cloudRelay CLOSED REASON=DONE NCIRCS=0 ID=1929`);
    assert.equal(e.target, `$${FP_A}~cloudRelay`);
    assert.deepEqual({ ...e.router! }, { fingerprint: FP_A, nickname: 'cloudRelay' });
    assert.equal(e.address, undefined);
    assert.equal(e.status, 'CLOSED');
    assert.equal(e.reason, 'DONE');
    assert.equal(e.numCircuits, 0);
    assert.equal(e.connectionId, '1929');
  });

  it('parses ORCONN NEW with an address', () => {
    const e = typed('ORCONN', 'ORCONN 198.51.100.7:9001 NEW ID=7');
    assert.deepEqual(e.address, { host: '198.51.100.7', port: 9001 });
    assert.equal(e.router, undefined);
  });

  it('parses orconn-status lines', () => {
    const e = parseOrConnStatusLine(`$${FP_B}~freiat CONNECTED`);
    assert.equal(e.status, 'CONNECTED');
    assert.equal(e.router?.fingerprint, FP_B);
    assert.throws(() => parseOrConnStatusLine(`$${FP_B}~freiat`), TorProtocolError);
  });

  it('parses CONN_BW', () => {
    const e = typed('CONN_BW', 'CONN_BW ID=123 TYPE=EXIT READ=234 WRITTEN=345');
    assert.deepEqual([e.connectionId, e.connectionType, e.read, e.written], ['123', 'EXIT', 234, 345]);
    assert.equal(parseEvent(reply(line(' ', 'CONN_BW ID=1 TYPE=OR'))).generic, true);
  });

  it('parses CIRC_BW with congestion-control fields', () => {
    const e = typed(
      'CIRC_BW',
      'CIRC_BW ID=14 READ=1000 WRITTEN=2000 TIME=2026-11-25T15:00:01.250000 DELIVERED_READ=900 OVERHEAD_READ=50 ' +
        'DELIVERED_WRITTEN=1800 OVERHEAD_WRITTEN=100 SS=1 CWND=124 RTT=80 MIN_RTT=60',
    );
    assert.equal(e.circuitId, '14');
    assert.equal(e.read, 1000);
    assert.equal(e.written, 2000);
    assert.equal(e.time?.getTime(), Date.UTC(2026, 10, 25, 15, 0, 1, 250));
    assert.deepEqual(
      [e.deliveredRead, e.overheadRead, e.deliveredWritten, e.overheadWritten, e.slowStart, e.cwnd, e.rtt, e.minRtt],
      [900, 50, 1800, 100, true, 124, 80, 60],
    );
  });

  it('parses the CELL_STATS examples of control-spec 4.1.23', () => {
    const a = typed(
      'CELL_STATS',
      'CELL_STATS ID=14 OutboundQueue=19403 OutboundConn=15 OutboundAdded=create_fast:1,relay_early:2 ' +
        'OutboundRemoved=create_fast:1,relay_early:2 OutboundTime=create_fast:0,relay_early:0',
    );
    assert.equal(a.circuitId, '14');
    assert.equal(a.outboundQueue, '19403');
    assert.equal(a.outboundConn, '15');
    assert.deepEqual({ ...a.outboundAdded }, { create_fast: 1, relay_early: 2 });
    assert.deepEqual({ ...a.outboundTime }, { create_fast: 0, relay_early: 0 });
    assert.equal(a.inboundQueue, undefined);
    const b = typed(
      'CELL_STATS',
      'CELL_STATS InboundQueue=19403 InboundConn=32 InboundAdded=relay:1,created_fast:1 ' +
        'InboundRemoved=relay:1,created_fast:1 InboundTime=relay:0,created_fast:0',
    );
    assert.equal(b.circuitId, undefined);
    assert.deepEqual({ ...b.inboundRemoved }, { relay: 1, created_fast: 1 });
  });

  it('parses the TB_EMPTY examples of control-spec 4.1.24', () => {
    const orconn = typed('TB_EMPTY', 'TB_EMPTY ORCONN ID=16 READ=0 WRITTEN=0 LAST=100');
    assert.deepEqual([orconn.bucket, orconn.connectionId, orconn.read, orconn.written, orconn.last], ['ORCONN', '16', 0, 0, 100]);
    const global = typed('TB_EMPTY', 'TB_EMPTY GLOBAL READ=93 WRITTEN=93 LAST=100');
    assert.equal(global.bucket, 'GLOBAL');
    assert.equal(global.connectionId, undefined);
  });
});

describe('events: status and log events', () => {
  it('parses a BOOTSTRAP status event', () => {
    const e = typed('STATUS_CLIENT', 'STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"');
    assert.equal(e.severity, 'NOTICE');
    assert.equal(e.action, 'BOOTSTRAP');
    assert.deepEqual({ ...e.arguments }, { PROGRESS: '100', TAG: 'done', SUMMARY: 'Done' });
    assert.equal(e.bootstrap?.progress, 100);
    assert.equal(e.bootstrap?.tag, 'done');
    assert.equal(e.bootstrap?.summary, 'Done');
  });

  it('parses a bootstrap problem report', () => {
    const e = typed(
      'STATUS_CLIENT',
      'STATUS_CLIENT WARN BOOTSTRAP PROGRESS=14 TAG=handshake_dir SUMMARY="Finishing handshake with directory server" ' +
        'WARNING="Connection refused" REASON=CONNECTREFUSED COUNT=3 RECOMMENDATION=ignore ' +
        `HOST=${FP_A} HOSTADDR="127.0.0.1:5000"`,
    );
    assert.deepEqual({ ...e.bootstrap! }, {
      progress: 14,
      tag: 'handshake_dir',
      summary: 'Finishing handshake with directory server',
      warning: 'Connection refused',
      reason: 'CONNECTREFUSED',
      count: 3,
      recommendation: 'ignore',
      host: FP_A,
      hostAddr: '127.0.0.1:5000',
    });
  });

  it('parses other status events without a bootstrap part', () => {
    const general = typed('STATUS_GENERAL', 'STATUS_GENERAL NOTICE CLOCK_JUMPED TIME=120');
    assert.equal(general.action, 'CLOCK_JUMPED');
    assert.equal(general.arguments['TIME'], '120');
    assert.equal(general.bootstrap, undefined);
    const version = typed(
      'STATUS_GENERAL',
      'STATUS_GENERAL WARN DANGEROUS_VERSION CURRENT=0.4.9.1 REASON=OBSOLETE RECOMMENDED="0.4.8.12, 0.4.9.2"',
    );
    assert.equal(version.arguments['RECOMMENDED'], '0.4.8.12, 0.4.9.2');
    const server = typed('STATUS_SERVER', 'STATUS_SERVER NOTICE EXTERNAL_ADDRESS ADDRESS=192.0.2.1 METHOD=DIRSERV');
    assert.equal(server.arguments['ADDRESS'], '192.0.2.1');
    const established = typed('STATUS_CLIENT', 'STATUS_CLIENT NOTICE CIRCUIT_ESTABLISHED');
    assert.deepEqual({ ...established.arguments }, {});
  });

  it('reads tor 0.2.0 STATUS_SEVER as STATUS_SERVER', () => {
    const e = expectTyped('STATUS_SERVER', parseEventLine('STATUS_SEVER NOTICE GOOD_SERVER_DESCRIPTOR'));
    assert.equal(e.action, 'GOOD_SERVER_DESCRIPTOR');
    assert.equal(e.raw, 'STATUS_SEVER NOTICE GOOD_SERVER_DESCRIPTOR');
  });

  it('rejects a status event without action', () => {
    assert.equal(parseEventLine('STATUS_CLIENT NOTICE').generic, true);
  });

  it('keeps log messages verbatim, quotes and all', () => {
    const notice = typed('NOTICE', 'NOTICE Bootstrapped 100% (done): Done');
    assert.equal(notice.severity, 'NOTICE');
    assert.equal(notice.message, 'Bootstrapped 100% (done): Done');
    const warn = typed('WARN', 'WARN Odd "quote and  two spaces K=V');
    assert.equal(warn.message, 'Odd "quote and  two spaces K=V');
    assert.equal(typed('ERR', 'ERR').message, '');
    for (const sev of ['DEBUG', 'INFO'] as const) assert.equal(typed(sev, `${sev} x`).message, 'x');
  });

  it('takes a multi-line log message from the data block', () => {
    const e = expectTyped('WARN', parseEvent(reply(line('+', 'WARN', 'first line\nsecond line'), line(' ', 'OK'))));
    assert.equal(e.message, 'first line\nsecond line');
    assert.equal(e.raw, 'WARN\nfirst line\nsecond line\nOK');
  });

  it('parses SIGNAL and NETWORK_LIVENESS', () => {
    assert.equal(typed('SIGNAL', 'SIGNAL NEWNYM').signal, 'NEWNYM');
    assert.equal(typed('NETWORK_LIVENESS', 'NETWORK_LIVENESS UP').status, 'UP');
    assert.equal(parseEventLine('SIGNAL').generic, true);
  });

  it('parses BUILDTIMEOUT_SET', () => {
    const e = typed(
      'BUILDTIMEOUT_SET',
      'BUILDTIMEOUT_SET COMPUTED TOTAL_TIMES=1000 TIMEOUT_MS=815 XM=58 ALPHA=1.52 CUTOFF_QUANTILE=0.80 ' +
        'TIMEOUT_RATE=0.137 CLOSE_MS=60000 CLOSE_RATE=0.006',
    );
    assert.equal(e.setType, 'COMPUTED');
    assert.deepEqual(
      [e.totalTimes, e.timeoutMs, e.xm, e.alpha, e.cutoffQuantile, e.timeoutRate, e.closeMs, e.closeRate],
      [1000, 815, 58, 1.52, 0.8, 0.137, 60000, 0.006],
    );
    const reset = typed('BUILDTIMEOUT_SET', 'BUILDTIMEOUT_SET RESET TOTAL_TIMES=0 ALPHA=nan');
    assert.equal(reset.alpha, undefined);
    assert.equal(reset.extra['ALPHA'], 'nan');
  });

  it('parses the CLIENTS_SEEN example of control-spec 4.1.14', () => {
    const e = typed(
      'CLIENTS_SEEN',
      'CLIENTS_SEEN TimeStarted="2008-12-25 23:50:43" CountrySummary=us=16,de=8,uk=8 IPVersions=v4=16,v6=40',
    );
    assert.equal(e.timeStarted?.toISOString(), '2008-12-25T23:50:43.000Z');
    assert.deepEqual({ ...e.countrySummary }, { us: 16, de: 8, uk: 8 });
    assert.deepEqual({ ...e.ipVersions }, { v4: 16, v6: 40 });
  });

  it('parses TRANSPORT_LAUNCHED', () => {
    const e = typed('TRANSPORT_LAUNCHED', 'TRANSPORT_LAUNCHED client obfs4 127.0.0.1 43921');
    assert.deepEqual([e.transportType, e.name, e.address, e.port], ['client', 'obfs4', '127.0.0.1', 43921]);
    assert.equal(parseEventLine('TRANSPORT_LAUNCHED client obfs4 127.0.0.1').generic, true);
  });

  it('parses the PT_LOG and PT_STATUS examples of control-spec 4.1.28-29', () => {
    const log = typed('PT_LOG', 'PT_LOG PT=/usr/bin/obs4proxy SEVERITY=debug MESSAGE="Connected to bridge A"');
    assert.deepEqual([log.program, log.severity, log.message], ['/usr/bin/obs4proxy', 'debug', 'Connected to bridge A']);
    const status = typed('PT_STATUS', 'PT_STATUS PT=/usr/bin/obs4proxy TRANSPORT=obfs4 CONNECT=Success');
    assert.equal(status.program, '/usr/bin/obs4proxy');
    assert.equal(status.transport, 'obfs4');
    assert.deepEqual({ ...status.arguments }, { CONNECT: 'Success' });
    assert.equal(parseEventLine('PT_STATUS TRANSPORT=obfs4').generic, true);
  });
});

describe('events: relays, documents, configuration and onion services', () => {
  it('parses NEWDESC', () => {
    const e = typed('NEWDESC', `NEWDESC $${FP_A}~a $${FP_B}~b`);
    assert.deepEqual(
      e.routers.map((r) => r.fingerprint),
      [FP_A, FP_B],
    );
    assert.equal(parseEventLine('NEWDESC').generic, true);
  });

  it('parses GUARD', () => {
    const e = typed('GUARD', `GUARD ENTRY $${FP_A}~guard1 NEW`);
    assert.equal(e.guardType, 'ENTRY');
    assert.equal(e.name, `$${FP_A}~guard1`);
    assert.deepEqual({ ...e.router }, { fingerprint: FP_A, nickname: 'guard1' });
    assert.equal(e.status, 'NEW');
    assert.equal(typed('GUARD', `GUARD ENTRY $${FP_A}~g BAD_L2`).status, 'BAD_L2');
  });

  it('keeps the NS and NEWCONSENSUS bodies', () => {
    const body = 'r relay1 AAAA BBBB 2026-11-25 15:00:00 192.0.2.1 9001 0\ns Fast Running Valid\nw Bandwidth=100';
    const ns = expectTyped('NS', parseEvent(reply(line('+', 'NS', body), line(' ', 'OK'))));
    assert.equal(ns.body, body);
    assert.equal(ns.raw, `NS\n${body}\nOK`);
    const consensus = expectTyped('NEWCONSENSUS', parseEvent(reply(line('+', 'NEWCONSENSUS', body), line(' ', 'OK'))));
    assert.equal(consensus.body, body);
    // Tor before 0.2.0.3-alpha could omit the final "650 OK" (control-spec 2.3).
    assert.equal(expectTyped('NS', parseEvent(reply(line('+', 'NS', body)))).body, body);
    // An NS event must have a data block.
    assert.equal(parseEventLine('NS').generic, true);
  });

  it('parses CONF_CHANGED, values verbatim and unset options as null', () => {
    const e = expectTyped(
      'CONF_CHANGED',
      parseEvent(
        reply(
          line('-', 'CONF_CHANGED'),
          line('-', 'SocksPort=9050'),
          line('-', 'SocksPort=127.0.0.1:9150 IsolateSOCKSAuth'),
          line('-', 'ExitPolicy=accept 127.0.0.0/8:*'),
          line('-', 'Weird=a=b'),
          line('-', 'MaxCircuitDirtiness'),
          line(' ', 'OK'),
        ),
      ),
    );
    assert.deepEqual(e.changes, [
      { key: 'SocksPort', value: '9050' },
      { key: 'SocksPort', value: '127.0.0.1:9150 IsolateSOCKSAuth' },
      { key: 'ExitPolicy', value: 'accept 127.0.0.0/8:*' },
      { key: 'Weird', value: 'a=b' },
      { key: 'MaxCircuitDirtiness', value: null },
    ]);
    assert.equal(
      e.raw,
      'CONF_CHANGED\nSocksPort=9050\nSocksPort=127.0.0.1:9150 IsolateSOCKSAuth\nExitPolicy=accept 127.0.0.0/8:*\nWeird=a=b\nMaxCircuitDirtiness\nOK',
    );
    assert.deepEqual(expectTyped('CONF_CHANGED', parseEventLine('CONF_CHANGED')).changes, []);
  });

  it('parses DESCCHANGED and AUTHDIR_NEWDESCS', () => {
    typed('DESCCHANGED', 'DESCCHANGED');
    const e = expectTyped(
      'AUTHDIR_NEWDESCS',
      parseEvent(reply(line('+', 'AUTHDIR_NEWDESCS', 'ACCEPTED\nlooks fine\nrouter x 1.2.3.4\nsigning-key'), line(' ', 'OK'))),
    );
    assert.deepEqual([e.action, e.message, e.descriptor], ['ACCEPTED', 'looks fine', 'router x 1.2.3.4\nsigning-key']);
  });

  it('parses HS_DESC actions of a v3 service', () => {
    const onion = 'ajlc4rtw3eqbaoy5zvpwhxg2fcy4lcb5rbfsatuwmf2wrg4agr7xifqd';
    const index = 'A'.repeat(64);
    const requested = typed(
      'HS_DESC',
      `HS_DESC REQUESTED ${onion} NO_AUTH $${FP_A}~hsdir1 h1JzqS6WquuHyTgi0GVLjxZqw+hVfm0aB5O1k3Dp2FI HSDIR_INDEX=${index}`,
    );
    assert.equal(requested.action, 'REQUESTED');
    assert.equal(requested.address, onion);
    assert.equal(requested.authType, 'NO_AUTH');
    assert.equal(requested.hsDir, `$${FP_A}~hsdir1`);
    assert.equal(requested.hsDirRouter?.fingerprint, FP_A);
    assert.equal(requested.descriptorId, 'h1JzqS6WquuHyTgi0GVLjxZqw+hVfm0aB5O1k3Dp2FI');
    assert.equal(requested.hsDirIndex, index);
    const failed = typed('HS_DESC', `HS_DESC FAILED ${onion} NO_AUTH UNKNOWN REASON=QUERY_NO_HSDIR`);
    assert.equal(failed.hsDirRouter, undefined);
    assert.equal(failed.descriptorId, undefined);
    assert.equal(failed.reason, 'QUERY_NO_HSDIR');
    const created = typed('HS_DESC', `HS_DESC CREATED ${onion} UNKNOWN UNKNOWN descid REPLICA=1`);
    assert.equal(created.replica, 1);
    assert.equal(parseEventLine(`HS_DESC UPLOAD ${onion} NO_AUTH`).generic, true);
  });

  it('parses HS_DESC_CONTENT with its descriptor, or an empty one after a failed fetch', () => {
    const e = expectTyped(
      'HS_DESC_CONTENT',
      parseEvent(
        reply(line('+', `HS_DESC_CONTENT onionaddr descid $${FP_B}~dir`, 'hs-descriptor 3\ndescriptor-lifetime 180'), line(' ', 'OK')),
      ),
    );
    assert.deepEqual([e.address, e.descriptorId, e.hsDir], ['onionaddr', 'descid', `$${FP_B}~dir`]);
    assert.equal(e.hsDirRouter?.nickname, 'dir');
    assert.equal(e.descriptor, 'hs-descriptor 3\ndescriptor-lifetime 180');
    const empty = expectTyped('HS_DESC_CONTENT', parseEvent(reply(line('+', 'HS_DESC_CONTENT UNKNOWN descid UNKNOWN', ''), line(' ', 'OK'))));
    assert.equal(empty.descriptor, '');
    assert.equal(empty.hsDirRouter, undefined);
  });
});
