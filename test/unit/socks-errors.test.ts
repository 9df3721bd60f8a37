import assert from 'node:assert/strict';
import { TorSocksError } from '../../src/errors.js';
import { SOCKS_REPLY_ERRORS, socksReplyError, UNKNOWN_REPLY_CODE } from '../../src/socks/socks-errors.js';
import { decodeHandshakeBytes, translateSocksFailure } from '../../src/socks/socks-handshake.js';

describe('socks errors: SOCKS5 reply byte -> TorSocksError', () => {
  // The full table: RFC 1928 replies and tor's ExtendedErrors (tor.1, SocksPort ExtendedErrors).
  const table: Array<[number, string, RegExp]> = [
    [0x01, 'TOR_SOCKS_GENERAL_FAILURE', /general SOCKS server failure/],
    [0x02, 'TOR_SOCKS_NOT_ALLOWED', /exit policy/],
    [0x03, 'TOR_SOCKS_NETWORK_UNREACHABLE', /no route/],
    [0x04, 'TOR_SOCKS_HOST_UNREACHABLE', /could not resolve or reach the host/],
    [0x05, 'TOR_SOCKS_CONNECTION_REFUSED', /refused the connection/],
    [0x06, 'TOR_SOCKS_TTL_EXPIRED', /timed out inside tor/],
    [0x07, 'TOR_SOCKS_COMMAND_NOT_SUPPORTED', /command/],
    [0x08, 'TOR_SOCKS_ADDRESS_NOT_SUPPORTED', /address type/],
    [0xf0, 'TOR_SOCKS_ONION_NOT_FOUND', /descriptor not found/],
    [0xf1, 'TOR_SOCKS_ONION_DESCRIPTOR_INVALID', /descriptor invalid/],
    [0xf2, 'TOR_SOCKS_ONION_INTRO_FAILED', /introduction failed/],
    [0xf3, 'TOR_SOCKS_ONION_REND_FAILED', /rendezvous failed/],
    [0xf4, 'TOR_SOCKS_ONION_CLIENT_AUTH_MISSING', /client authorization missing/],
    [0xf5, 'TOR_SOCKS_ONION_CLIENT_AUTH_WRONG', /client authorization wrong/],
    [0xf6, 'TOR_SOCKS_ONION_BAD_ADDRESS', /invalid onion address/],
    [0xf7, 'TOR_SOCKS_ONION_INTRO_TIMEOUT', /introduction timed out/],
  ];

  for (const [reply, code, text] of table) {
    it(`0x${reply.toString(16).toUpperCase()} -> ${code}`, () => {
      const err = socksReplyError(reply, 'connect to example.onion:80 through tor');
      assert.ok(err instanceof TorSocksError);
      assert.equal(err.code, code);
      assert.equal(err.reply, reply);
      assert.match(err.message, text);
      assert.match(err.message, /^connect to example\.onion:80 through tor failed: /);
      assert.ok(err.message.includes(`0x${reply.toString(16).padStart(2, '0').toUpperCase()}`));
    });
  }

  it('the table has exactly these 16 replies, each with a distinct code', () => {
    const keys = Object.keys(SOCKS_REPLY_ERRORS).map(Number).sort((a, b) => a - b);
    assert.deepEqual(keys, table.map(([r]) => r).sort((a, b) => a - b));
    const codes = new Set(Object.values(SOCKS_REPLY_ERRORS).map((i) => i.code));
    assert.equal(codes.size, 16);
  });

  it("tor's generic replies for a .onion target speak of the onion service, not of an exit, and point at ExtendedErrors", () => {
    for (const [reply, said] of [[0x01, /could not complete the stream to the onion service/], [0x04, /could not reach the onion service/], [0x06, /onion service timed out/]] as const) {
      const err = socksReplyError(reply, 'connect to example.onion:80 through tor', { onion: true });
      assert.equal(err.code, SOCKS_REPLY_ERRORS[reply]!.code, 'the code stays the reply byte\'s');
      assert.equal(err.reply, reply);
      assert.match(err.message, said);
      assert.match(err.message, /ExtendedErrors flag says why/);
      assert.doesNotMatch(err.message, /exit/);
    }
    // Other replies (an onion service's tor refusing the port, say) read the same for both.
    assert.equal(socksReplyError(0x05, 'x', { onion: true }).message, socksReplyError(0x05, 'x').message);
    assert.equal(socksReplyError(0xf0, 'x', { onion: true }).message, socksReplyError(0xf0, 'x').message);
    assert.match(socksReplyError(0x04, 'x').message, /the exit could not resolve or reach the host/);
  });

  it('a RESOLVE_PTR that tor answers "host unreachable" says the address has no name, not "check the hostname"', () => {
    const err = socksReplyError(0x04, 'RESOLVE_PTR 127.0.0.1 through tor', { reverse: true });
    assert.equal(err.code, 'TOR_SOCKS_HOST_UNREACHABLE');
    assert.match(err.message, /the exit found no name for the address \(it may have no PTR record\)/);
    assert.doesNotMatch(err.message, /hostname/);
    assert.equal(socksReplyError(0x05, 'x', { reverse: true }).message, socksReplyError(0x05, 'x').message);
  });

  for (const reply of [0x09, 0x7f, 0xef, 0xf8, 0xff]) {
    it(`an undefined reply 0x${reply.toString(16)} keeps its byte under ${UNKNOWN_REPLY_CODE}`, () => {
      const err = socksReplyError(reply, 'x');
      assert.equal(err.code, UNKNOWN_REPLY_CODE);
      assert.equal(err.reply, reply);
    });
  }
});

describe('socks errors: translating the socks package failures', () => {
  const what = 'connect to h:1 through tor';
  const noAuthGreeting = Buffer.from([0x05, 0x00]);

  it('decodes greeting, auth and reply header', () => {
    assert.deepEqual(decodeHandshakeBytes(Buffer.from([0x05])), {});
    assert.deepEqual(decodeHandshakeBytes(Buffer.from([0x05, 0x00, 0x05, 0xf0, 0x00, 0x01])), {
      greetingVersion: 5,
      method: 0,
      reply: { version: 5, reply: 0xf0, addressType: 1 },
    });
    assert.deepEqual(decodeHandshakeBytes(Buffer.from([0x05, 0x02, 0x01, 0x00, 0x05, 0x04, 0x00, 0x01])), {
      greetingVersion: 5,
      method: 2,
      authStatus: 0,
      reply: { version: 5, reply: 0x04, addressType: 1 },
    });
  });

  it('a rejection takes the reply byte from the bytes tor sent (the package calls 0xF0 "undefined")', () => {
    const bytes = Buffer.concat([noAuthGreeting, Buffer.from([0x05, 0xf4, 0x00, 0x01, 0, 0, 0, 0, 0, 0])]);
    const err = translateSocksFailure('Socks5 proxy rejected connection - undefined', bytes, what, 1000);
    assert.equal(err.code, 'TOR_SOCKS_ONION_CLIENT_AUTH_MISSING');
    assert.equal(err.reply, 0xf4);
  });

  it('a rejection after user/pass auth reads the reply after the auth status', () => {
    const bytes = Buffer.from([0x05, 0x02, 0x01, 0x00, 0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
    const err = translateSocksFailure('Socks5 proxy rejected connection - ConnectionRefused', bytes, what, 1000);
    assert.equal(err.code, 'TOR_SOCKS_CONNECTION_REFUSED');
    assert.equal(err.reply, 5);
  });

  const cases: Array<[string, Buffer, string]> = [
    ['Proxy connection timed out', noAuthGreeting, 'TOR_SOCKS_TIMEOUT'],
    ['Socket closed', noAuthGreeting, 'TOR_SOCKS_CLOSED'],
    ['read ECONNRESET', noAuthGreeting, 'TOR_SOCKS_CLOSED'],
    ['Received invalid Socks5 initial handshake (no accepted authentication type)', Buffer.from([5, 0xff]), 'TOR_SOCKS_AUTH_FAILED'],
    ['Socks5 Authentication failed', Buffer.from([5, 2, 1, 1]), 'TOR_SOCKS_AUTH_FAILED'],
    ['Received invalid Socks5 initial handshake (invalid socks version)', Buffer.from('HTTP/1.0 501'), 'TOR_SOCKS_PROTOCOL'],
    ['Received invalid Socks5 initial handshake (unknown authentication type)', Buffer.from([5, 0x7e]), 'TOR_SOCKS_PROTOCOL'],
    ['Socks5 proxy rejected connection - undefined', Buffer.from([5, 0, 4, 0, 0, 1]), 'TOR_SOCKS_PROTOCOL'],
  ];
  for (const [message, bytes, code] of cases) {
    it(`"${message}" -> ${code}`, () => {
      const err = translateSocksFailure(message, bytes, what, 1234);
      assert.equal(err.code, code);
      assert.equal(err.reply, undefined);
      assert.ok(err.message.startsWith(`${what} failed: `));
      if (code === 'TOR_SOCKS_TIMEOUT') assert.match(err.message, /1234 ms/);
    });
  }

  it('never keeps the package error (whose options hold the password) as cause', () => {
    const err = translateSocksFailure('Socket closed', noAuthGreeting, what, 1);
    assert.ok(err.cause instanceof Error);
    assert.deepEqual(Object.keys(err.cause as object), []);
  });
});
