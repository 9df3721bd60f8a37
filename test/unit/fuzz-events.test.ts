import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseEvent, parseEventLine } from '../../src/control/events/parse-event.js';
import { isKnownEventName, type TorEvent } from '../../src/control/events/event-types.js';
import { ReplyParser } from '../../src/control/reply-parser.js';
import type { ControlReply } from '../../src/control/reply.js';
import { TorProtocolError } from '../../src/errors.js';
import { reduce } from '../../src/state/reducers.js';
import { createSnapshot, describeSnapshot } from '../../src/state/snapshot.js';

/**
 * Events as tor writes them (control-spec 4.1 formats), mutated character by character and token
 * by token, then parsed alone and through the whole reader: bytes -> ReplyParser -> parseEvent ->
 * the state reducers. Nothing may throw (a malformed event becomes a generic event with
 * `parseError`), and the state must stay describable. Random text alone is already covered in
 * events-robustness.test.ts; this file starts from real shapes so that the typed parsers see
 * near-valid input, where their edge cases are.
 */

const RUNS = { lines: 6_000, multiLine: 2_000, pipeline: 3_000 } as const;

const FP1 = '790CDA8DBC6E3EE6A0047D6AED870A7720C5A38A';
const FP2 = 'A59E1E7C7EAEE083D756EE1FF6EC31CA3D8651B7';
const FP3 = 'B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5';
const ONION = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid';

/** One line of each event type, in tor's own formats. */
const LINES = [
  `CIRC 7 LAUNCHED BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL TIME_CREATED=2024-06-01T00:14:59.123456`,
  `CIRC 7 EXTENDED $${FP1}~auth0,$${FP2}~auth1 BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY PURPOSE=HS_SERVICE_REND HS_STATE=HSSR_CONNECTING REND_QUERY=${ONION}`,
  `CIRC 7 BUILT $${FP1}~auth0,$${FP2}~auth1,$${FP3}=auth2 PURPOSE=GENERAL TIME_CREATED=2024-06-01T00:14:59 SOCKS_USERNAME="u\\"1" SOCKS_PASSWORD="p w"`,
  `CIRC 7 CLOSED $${FP1}~auth0 REASON=DESTROYED REMOTE_REASON=FINISHED`,
  `CIRC 12 FAILED REASON=TIMEOUT`,
  `CIRC_MINOR 7 PURPOSE_CHANGED $${FP1}~auth0 PURPOSE=MEASURE_TIMEOUT OLD_PURPOSE=GENERAL OLD_HS_STATE=HSCI_CONNECTING`,
  `STREAM 31 NEW 0 example.com:80 SOURCE_ADDR=127.0.0.1:51234 PURPOSE=USER SOCKS_USERNAME="alice" SOCKS_PASSWORD="s3cret" CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=0 SESSION_GROUP=-2 ISO_FIELDS=SOCKS_USERNAME,SOCKS_PASSWORD`,
  `STREAM 31 SENTCONNECT 7 127.0.0.1:7`,
  `STREAM 31 SUCCEEDED 7 127.0.0.1:7`,
  `STREAM 31 CLOSED 7 [::1]:80 REASON=END REMOTE_REASON=DONE`,
  `STREAM 32 NEWRESOLVE 0 ${ONION}.onion:0 PURPOSE=DNS_REQUEST`,
  `STREAM 33 REMAP 9 10.0.0.1:443 SOURCE=EXIT`,
  `STREAM 34 DETACHED 9 x.example:1 REASON=TIMEOUT`,
  `STREAM_BW 31 1024 2048 2024-06-01T00:15:00.5`,
  `ORCONN $${FP1}~auth0 CONNECTED NCIRCS=2 ID=18`,
  `ORCONN 127.0.0.1:5000 CLOSED REASON=DONE NCIRCS=0 ID=19`,
  `BW 101512 11338`,
  `BW 5 6 BRIDGE_CONN=1,2 EXIT=3,4`,
  `CIRC_BW ID=7 READ=509 WRITTEN=1018 TIME=2024-06-01T00:15:00.123 DELIVERED_READ=400 OVERHEAD_READ=109 SS=1 CWND=124 RTT=50 MIN_RTT=40`,
  `CONN_BW ID=18 TYPE=OR READ=1000 WRITTEN=2000`,
  `CELL_STATS ID=7 InboundQueue=1 InboundConn=18 InboundAdded=create_fast:1,relay:2 InboundRemoved=relay:2 InboundTime=relay:0`,
  `TB_EMPTY ORCONN ID=18 READ=0 WRITTEN=1 LAST=100`,
  `ADDRMAP example.com 93.184.216.34 "2024-06-01 00:16:00" EXPIRES="2024-06-01 00:16:00" CACHED="NO" STREAMID=31`,
  `ADDRMAP bad.example <error> NEVER error=yes CACHED="YES"`,
  `NEWDESC $${FP1}~auth0 $${FP2}=auth1`,
  `GUARD ENTRY $${FP1}~auth0 UP`,
  `GUARD ENTRY $${FP2} DROPPED`,
  `STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`,
  `STATUS_CLIENT WARN BOOTSTRAP PROGRESS=5 TAG=conn_dir SUMMARY="Connecting to a relay" WARNING="Connection refused" REASON=CONNECTREFUSED COUNT=3 RECOMMENDATION=warn HOSTID="${FP1}" HOSTADDR="127.0.0.1:5000"`,
  `STATUS_GENERAL WARN CLOCK_SKEW SKEW=-120 SOURCE=CONSENSUS`,
  `STATUS_SERVER NOTICE EXTERNAL_ADDRESS ADDRESS=127.0.0.1 HOSTNAME=x METHOD=CONFIGURED`,
  `HS_DESC UPLOAD ${ONION} UNKNOWN $${FP1}~auth0 DESCRIPTOR_ID HSDIR_INDEX=${'a'.repeat(64)}`,
  `HS_DESC UPLOADED ${ONION} UNKNOWN $${FP1}~auth0`,
  `HS_DESC FAILED ${ONION} NO_AUTH $${FP2} REASON=UPLOAD_REJECTED`,
  `HS_DESC RECEIVED ${ONION} NO_AUTH $${FP3}~auth2 desc-id-base64`,
  `SIGNAL NEWNYM`,
  `NETWORK_LIVENESS UP`,
  `BUILDTIMEOUT_SET COMPUTED TOTAL_TIMES=124 TIMEOUT_MS=1500 XM=800 ALPHA=1.5 CUTOFF_QUANTILE=0.8 TIMEOUT_RATE=0.1 CLOSE_MS=60000 CLOSE_RATE=0.0`,
  `CLIENTS_SEEN TimeStarted="2024-06-01 00:00:00" CountrySummary=us=16,de=8 IPVersions=v4=16,v6=40`,
  `TRANSPORT_LAUNCHED client obfs4 127.0.0.1 40001`,
  `PT_LOG PT=/usr/bin/obfs4proxy SEVERITY=debug MESSAGE="Connected to bridge A"`,
  `PT_STATUS TRANSPORT=obfs4 CONNECT=Success`,
  `NOTICE Bootstrapped 100% (done): Done`,
  `WARN Problem bootstrapping. Stuck at 5%`,
  `CONF_CHANGED ContactInfo=me`,
  `DESCCHANGED`,
  `FUTURE_EVENT alpha "beta gamma" K=v`,
];

/** Events with a data block: (first line, body). */
const BLOCKS: Array<[string, string]> = [
  ['NS', `r auth0 eQzajbxuPuagBH1q7YcKdyDFo4o AAAAAAAAAAAAAAAAAAAAAAAAAAA 2024-06-01 00:00:00 127.0.0.1 5000 7000\ns Exit Fast Guard HSDir Running Stable Valid\nw Bandwidth=20`],
  ['NEWCONSENSUS', `r auth1 pZ4efH6u4IPXVu4f9uwxyj2GUbc AAAAAAAAAAAAAAAAAAAAAAAAAAA 2024-06-01 00:00:00 127.0.0.1 5001 7001\ns Fast Running Valid\nw Bandwidth=30\nr auth2 ssPU5fYHGCk6S1xtfo+QobLD1OU 2024-06-01 00:00:00 127.0.0.1 5002 7002\ns Running`],
  ['CONF_CHANGED', 'ContactInfo=me\nSocksPort=9050\nSocksPort=unix:/x\nLog'],
  ['HS_DESC_CONTENT ' + ONION + ' desc-id $' + FP1, 'hs-descriptor 3\ndescriptor-lifetime 180\nsignature x'],
  ['AUTHDIR_NEWDESCS', 'ACCEPTED\nok\nrouter auth0 127.0.0.1 5000 0 7000'],
  ['NOTICE', 'a log message\nover several lines'],
];

const NAMES = ['CIRC', 'STREAM', 'ORCONN', 'BW', 'ADDRMAP', 'GUARD', 'NS', 'HS_DESC', 'STATUS_CLIENT', 'CIRC_MINOR', 'STREAM_BW', 'CONF_CHANGED', 'X'];
const INSERTS = ['"', '\\', '\\"', '=', ' ', '  ', '$', '~', ',', ':', '\t', '\0', '[', ']', '-', '.', '=""', ' K=', '"unterminated', '2024-13-45T99:99:99', '-1', '99999999999999999999', 'NaN', 'é', '😀', '\uD800'];

type Edit = (s: string) => string;

const at = (s: string, n: number) => n % (s.length + 1);
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.tuple(fc.nat(), fc.constantFrom(...INSERTS)).map(([n, ins]): Edit => (s) => s.slice(0, at(s, n)) + ins + s.slice(at(s, n))),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 10 })).map(([n, k]): Edit => (s) => s.slice(0, at(s, n)) + s.slice(at(s, n) + k)),
  fc.nat().map((n): Edit => (s) => s.slice(0, at(s, n))),
  // token-level: drop, duplicate, swap, replace by a name or a random string
  fc.tuple(fc.nat(), fc.constantFrom('drop', 'dup', 'swap'), fc.nat()).map(([i, op, j]): Edit => (s) => {
    const t = s.split(' ');
    const a = i % t.length;
    const b = j % t.length;
    if (op === 'drop') t.splice(a, 1);
    else if (op === 'dup') t.splice(a, 0, t[a]!);
    else [t[a], t[b]] = [t[b]!, t[a]!];
    return t.join(' ');
  }),
  fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 8 }))).map(([i, w]): Edit => (s) => {
    const t = s.split(' ');
    t[i % t.length] = w;
    return t.join(' ');
  }),
);

const mutatedLine = fc.tuple(fc.constantFrom(...LINES), fc.array(edit, { maxLength: 4 })).map(([l, es]) => es.reduce((s, e) => e(s), l));
const mutatedBlock = fc
  .tuple(fc.constantFrom(...BLOCKS), fc.array(edit, { maxLength: 3 }), fc.array(edit, { maxLength: 3 }))
  .map(([[head, body], he, be]) => [he.reduce((s, e) => e(s), head), be.reduce((s, e) => e(s), body)] as const);

/** The invariants every parsed event keeps, however broken its text. */
function checkEvent(e: TorEvent, raw?: string): void {
  assert.equal(typeof e.type, 'string');
  assert.ok(e.type.length > 0, 'empty type');
  assert.equal(typeof e.raw, 'string');
  if (raw !== undefined) assert.equal(e.raw, raw);
  assert.ok(e.extra !== null && typeof e.extra === 'object');
  if (e.generic) {
    assert.ok(Array.isArray(e.args));
    if (e.parseError !== undefined) assert.equal(typeof e.parseError, 'string');
  } else {
    assert.ok(isKnownEventName(e.type), `typed event of unknown type ${e.type}`);
  }
  // The event must be usable as plain data: serializable and printable.
  JSON.stringify(e);
}

function blockReply(head: string, body: string): ControlReply {
  return {
    status: 650,
    lines: [
      { status: 650, separator: '+', text: head, data: body },
      { status: 650, separator: ' ', text: 'OK' },
    ],
  };
}

describe('events fuzz: mutated real event lines', function () {
  // Bounded runs take a few seconds; the margin is for loaded CI machines, not for slowness.
  this.timeout(60_000);
  it(`parseEvent never throws on mutated one-line events, and keeps raw (${RUNS.lines} lines)`, () => {
    let typed = 0;
    let malformed = 0;
    fc.assert(
      fc.property(mutatedLine, (text) => {
        const e = parseEventLine(text);
        checkEvent(e, text);
        const viaReply = parseEvent({ status: 650, lines: [{ status: 650, separator: ' ', text }] });
        assert.deepEqual(viaReply, e, 'parseEvent and parseEventLine agree');
        if (!e.generic) typed++;
        else if (e.parseError !== undefined) malformed++;
      }),
      { numRuns: RUNS.lines },
    );
    // The mutations must leave many events typed and break many others.
    assert.ok(typed > RUNS.lines / 5, `only ${typed} typed`);
    assert.ok(malformed > RUNS.lines / 20, `only ${malformed} malformed`);
  });

  it(`parseEvent never throws on mutated multi-line events (${RUNS.multiLine} events)`, () => {
    fc.assert(
      fc.property(mutatedBlock, fc.boolean(), ([head, body], withMidLines) => {
        const reply = blockReply(head, body);
        if (withMidLines) reply.lines.unshift({ status: 650, separator: '-', text: body.split('\n')[0] ?? '' });
        checkEvent(parseEvent(reply));
      }),
      { numRuns: RUNS.multiLine },
    );
  });

  it(`bytes -> ReplyParser -> parseEvent -> state reducers: nothing throws, the state stays describable (${RUNS.pipeline} sessions)`, () => {
    const session = fc.array(fc.oneof(mutatedLine.map((l) => ({ l })), mutatedBlock.map((b) => ({ b }))), { minLength: 1, maxLength: 12 });
    let reduced = 0;
    fc.assert(
      fc.property(session, (items) => {
        // Mutations may put CR or LF inside a line: that is the parser's business (it may refuse
        // the stream with a TorProtocolError), so the wire is built as tor would frame it.
        const wire = items
          .map((it) => {
            if ('l' in it) return `650 ${it.l}\r\n`;
            const [head, body] = it.b;
            const stuffed = body.split('\n').map((x) => (x.startsWith('.') ? '.' + x : x));
            return `650+${head}\r\n${stuffed.join('\r\n')}\r\n.\r\n650 OK\r\n`;
          })
          .join('');
        const events: ControlReply[] = [];
        const parser = new ReplyParser({ onReply: () => assert.fail('an event stream produced a reply'), onEvent: (e) => events.push(e) });
        try {
          parser.push(Buffer.from(wire, 'utf8'));
        } catch (err) {
          assert.ok(err instanceof TorProtocolError, String(err));
        }
        const snapshot = createSnapshot();
        for (const raw of events) {
          const e = parseEvent(raw);
          checkEvent(e);
          reduce(snapshot, e);
          reduced++;
        }
        const picture = describeSnapshot(snapshot);
        JSON.stringify(picture);
        for (const c of snapshot.circuits.values()) assert.equal(typeof c.id, 'string');
      }),
      { numRuns: RUNS.pipeline },
    );
    assert.ok(reduced > RUNS.pipeline, `only ${reduced} events reached the reducers`);
  });
});
