import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { describeThrown } from '../../src/util/describe-thrown.js';

/** The error Node's TLS client gives when the server answers with something that is not TLS. */
async function handshakeWithPlainServer(): Promise<Error> {
  const server = net.createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as net.AddressInfo;
    return await new Promise<Error>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
      socket.once('secureConnect', () => reject(new Error('a plain server completed a TLS handshake')));
      socket.once('error', resolve);
    });
  } finally {
    server.close();
  }
}

describe('describeThrown: what was thrown, in one line (TLS failures through tor and tls: endpoints)', () => {
  it("gives OpenSSL's reason and Node's code, not OpenSSL's raw line with its file and line break", async () => {
    const err = await handshakeWithPlainServer();
    const reason = describeThrown(err);
    assert.doesNotMatch(reason, /\n/);
    assert.doesNotMatch(reason, /\.c:\d+/);
    const { code } = err as Error & { code?: string };
    if (typeof code === 'string' && code.startsWith('ERR_SSL_')) assert.ok(reason.endsWith(`(${code})`), reason);
  });

  it('keeps a one-line message as it is, and folds line breaks of any other', () => {
    assert.equal(describeThrown(new Error('self-signed certificate')), 'self-signed certificate');
    assert.equal(describeThrown(new Error('first\nsecond\n')), 'first second');
    const withReason = Object.assign(new Error('C0:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:ssl3_record.c:354:\n'), {
      reason: 'wrong version number',
      code: 'ERR_SSL_WRONG_VERSION_NUMBER',
    });
    assert.equal(describeThrown(withReason), 'wrong version number (ERR_SSL_WRONG_VERSION_NUMBER)');
  });
});

describe('describeThrown: values that are not Errors', () => {
  it('strings as they are, and an object that cannot be shown as text says so instead of throwing', () => {
    assert.equal(describeThrown('plain'), 'plain');
    assert.equal(describeThrown(Object.create(null)), 'a value that cannot be shown as text');
  });
});
