import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ControlReply, ReplyLine } from '../../src/control/reply.js';
import { parseEvent, parseEventLine } from '../../src/control/events/parse-event.js';
import { redactEventText } from '../../src/control/events/redact.js';
import {
  KNOWN_EVENT_NAMES,
  isGenericEvent,
  isKnownEventName,
  type TorEvent,
} from '../../src/control/events/event-types.js';

const FP = '790CDA8DBC6E3EE6A0047D6AED870A7720C5A38A';

/** Checks the invariants every parsed event must satisfy. */
function checkShape(e: TorEvent): void {
  assert.equal(typeof e.type, 'string');
  assert.ok(e.type.length > 0);
  assert.equal(typeof e.raw, 'string');
  assert.equal(typeof e.extra, 'object');
  assert.notEqual(e.extra, null);
  if (e.generic) {
    assert.ok(Array.isArray(e.args));
  } else {
    assert.ok(isKnownEventName(e.type), `typed event with unknown type ${e.type}`);
  }
}

describe('events: generic events and robustness', () => {
  it('lists every event of control-spec 4.1 as known', () => {
    for (const name of [
      'CIRC', 'STREAM', 'ORCONN', 'BW', 'DEBUG', 'INFO', 'NOTICE', 'WARN', 'ERR', 'NEWDESC', 'ADDRMAP',
      'AUTHDIR_NEWDESCS', 'DESCCHANGED', 'STATUS_GENERAL', 'STATUS_CLIENT', 'STATUS_SERVER', 'GUARD', 'NS',
      'STREAM_BW', 'CLIENTS_SEEN', 'NEWCONSENSUS', 'BUILDTIMEOUT_SET', 'SIGNAL', 'CONF_CHANGED', 'CIRC_MINOR',
      'TRANSPORT_LAUNCHED', 'CONN_BW', 'CIRC_BW', 'CELL_STATS', 'TB_EMPTY', 'HS_DESC', 'HS_DESC_CONTENT',
      'NETWORK_LIVENESS', 'PT_LOG', 'PT_STATUS',
    ]) {
      assert.ok(KNOWN_EVENT_NAMES.includes(name as never), name);
      assert.ok(isKnownEventName(name), name);
    }
    assert.equal(KNOWN_EVENT_NAMES.length, 35);
    assert.equal(isKnownEventName('FUTURE_EVENT'), false);
  });

  it('returns unknown events as generic events with arguments split', () => {
    const e = parseEventLine('FUTURE_EVENT alpha "beta gamma" K=v Q="x \\"y\\""');
    assert.ok(isGenericEvent(e));
    assert.equal(e.type, 'FUTURE_EVENT');
    assert.equal(e.raw, 'FUTURE_EVENT alpha "beta gamma" K=v Q="x \\"y\\""');
    assert.deepEqual(e.args, ['alpha', 'beta gamma']);
    assert.deepEqual({ ...e.extra }, { K: 'v', Q: 'x "y"' });
    assert.equal(e.parseError, undefined);
  });

  it('keeps the data block of an unknown multi-line event', () => {
    const e = parseEvent({
      status: 650,
      lines: [
        { status: 650, separator: '+', text: 'FUTURE_DOC x=1', data: 'line a\nline b' },
        { status: 650, separator: ' ', text: 'OK' },
      ],
    });
    assert.ok(e.generic);
    assert.equal(e.type, 'FUTURE_DOC');
    assert.equal(e.body, 'line a\nline b');
    assert.deepEqual({ ...e.extra }, { x: '1' });
    assert.equal(e.raw, 'FUTURE_DOC x=1\nline a\nline b\nOK');
  });

  it('still splits a generic event whose quoting is broken, and says so', () => {
    const e = parseEventLine('FUTURE_EVENT a K="open');
    assert.ok(e.generic);
    assert.deepEqual(e.args, ['a', 'K="open']);
    assert.match(e.parseError ?? '', /unterminated/);
  });

  it('marks a reply that is not an event', () => {
    const e = parseEvent({ status: 250, lines: [{ status: 250, separator: ' ', text: 'OK' }] });
    assert.ok(e.generic);
    assert.match(e.parseError ?? '', /not an asynchronous event/);
    const empty = parseEvent({ status: 650, lines: [] });
    assert.ok(empty.generic);
    assert.equal(empty.type, 'UNKNOWN');
  });

  it('survives reply objects that break their own type', () => {
    const broken = { status: 650, lines: [null] } as unknown as ControlReply;
    const e = parseEvent(broken);
    assert.ok(e.generic && e.parseError);
  });

  it('never throws for random event text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const e = parseEventLine(text);
        checkShape(e);
        assert.equal(e.raw, text);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws for random arguments after every known event name', () => {
    const pieces = fc.constantFrom(
      ' ', ' ', '"', '\\', '=', ',', ':', '~', '$', '0', '7', '65536', 'OK', 'NEVER', '<error>', '[::1]',
      `$${FP}`, `$${FP}~nick`, 'BUILD_FLAGS=', 'PURPOSE=', 'TIME_CREATED=2026-11-25T15:00:00.1',
      '"2026-11-25 16:00:00"', 'EXPIRES=', 'CACHED="YES"', 'SOURCE_ADDR=', 'ID=', 'READ=', 'WRITTEN=',
      'PROGRESS=', 'BOOTSTRAP', 'NOTICE', 'example.com:443', 'HS_POW=v1,', 'ISO_FIELDS=', 'SESSION_GROUP=-',
      'PT=', 'TRANSPORT=', 'InboundAdded=a:1,', 'CountrySummary=us=', 'ALPHA=1.5', 'SS=1',
    );
    const args = fc.array(pieces, { maxLength: 24 }).map((p) => p.join(''));
    fc.assert(
      fc.property(fc.constantFrom(...KNOWN_EVENT_NAMES, 'STATUS_SEVER', 'X'), args, (name, rest) => {
        const text = `${name}${rest}`;
        const e = parseEventLine(text);
        checkShape(e);
        assert.equal(e.raw, text);
        const firstToken = text.split(' ')[0] || 'UNKNOWN';
        if (e.generic) assert.equal(e.type, firstToken);
        else assert.equal(e.type, firstToken === 'STATUS_SEVER' ? 'STATUS_SERVER' : firstToken);
      }),
      { numRuns: 3000 },
    );
  });

  it('never throws for random multi-line replies', () => {
    const replyLine: fc.Arbitrary<ReplyLine> = fc.record(
      {
        status: fc.constantFrom(650, 650, 650, 250, 651),
        separator: fc.constantFrom<ReplyLine['separator']>('-', '+', ' '),
        text: fc.oneof(fc.constantFrom('OK', 'CONF_CHANGED', 'NS', 'CIRC 1 BUILT', 'WARN', 'A=b', ''), fc.string()),
        data: fc.option(fc.string({ unit: 'binary' }), { nil: undefined }),
      },
      { requiredKeys: ['status', 'separator', 'text'] },
    );
    fc.assert(
      fc.property(fc.constantFrom(650, 650, 250), fc.array(replyLine, { maxLength: 6 }), (status, lines) => {
        const e = parseEvent({ status, lines });
        checkShape(e);
      }),
      { numRuns: 2000 },
    );
  });

  it('redacts SOCKS passwords from event text for logs', () => {
    const raw =
      'STREAM 1 NEW 0 a.example:443 SOCKS_USERNAME="site" SOCKS_PASSWORD="s3cr\\"et" CLIENT_PROTOCOL=SOCKS5';
    const redacted = redactEventText(raw);
    assert.equal(
      redacted,
      'STREAM 1 NEW 0 a.example:443 SOCKS_USERNAME="site" SOCKS_PASSWORD=[redacted] CLIENT_PROTOCOL=SOCKS5',
    );
    assert.equal(redactEventText('CIRC 1 BUILT SOCKS_PASSWORD=bare X=1'), 'CIRC 1 BUILT SOCKS_PASSWORD=[redacted] X=1');
    assert.equal(redactEventText('BW 1 2'), 'BW 1 2');
  });
});
