import assert from 'node:assert/strict';
import path from 'node:path';
import * as errors from '../../src/errors.js';
import { ROOT, typeCheckAsConsumer } from '../support/consumer-tsc.js';

// err.code is a union of literal codes, narrowed per class: a TypeScript user's switch over it is
// checked (a misspelt code does not compile). Checked by compiling consumers against the published
// declarations, and at run time that every class's code is the one its type says.

const INDEX = JSON.stringify(path.join(ROOT, 'dist/src/index.js'));

const CONSUMER = `
import { TorError, TorSocksError, TorTimeoutError, type TorErrorCode, type TorSocksErrorCode } from ${INDEX};

export function advice(err: unknown): string {
  if (!(err instanceof TorError)) return 'not ours';
  const code: TorErrorCode = err.code;
  switch (code) {
    case 'TOR_TIMEOUT':
      return 'slow';
    case 'TOR_SOCKS_ONION_NOT_FOUND':
      return 'no such service';
    default:
      return code;
  }
}

export function socks(err: TorSocksError): TorSocksErrorCode {
  return err.code;
}

export const timeout: 'TOR_TIMEOUT' = new TorTimeoutError('waiting', 5).code;
`;

const WRONG = `
import { TorError, TorSocksError } from ${INDEX};

export function misspelt(err: TorError): boolean {
  return err.code === 'TOR_TIMEDOUT';
}

export function notASocksCode(err: TorSocksError): boolean {
  return err.code === 'TOR_TIMEOUT';
}
`;

describe('error code types', function () {
  this.timeout(60_000);

  it('types err.code as the union of codes, narrowed per class', async () => {
    const result = await typeCheckAsConsumer([], { 'consumer.ts': CONSUMER }, { skipLibCheck: true });
    assert.equal(result.out.trim(), '', 'tsc reported problems in the consumer');
    assert.equal(result.code, 0);
  });

  it('refuses a misspelt code, and a code of another class', async () => {
    const result = await typeCheckAsConsumer([], { 'wrong.ts': WRONG }, { skipLibCheck: true });
    assert.notEqual(result.code, 0);
    assert.match(result.out, /wrong\.ts\(5,\d+\).*no overlap/);
    assert.match(result.out, /wrong\.ts\(9,\d+\).*no overlap/);
  });

  it('each error class carries a code of the TOR_ form, distinct from every other class', () => {
    const samples: errors.TorError[] = [
      new errors.TorControlError(552, 'Unrecognized key', 'GETINFO'),
      new errors.TorControlClosedError('closed'),
      new errors.TorProtocolError('bad'),
      new errors.TorInvalidValueError('field', 'bad'),
      new errors.TorAuthError('no'),
      new errors.TorFetchError('no'),
      new errors.EndpointArgumentError('bad'),
      new errors.OnionPublishError('no'),
      new errors.TorAbortError('waiting'),
      new errors.TorTimeoutError('waiting', 5),
      new errors.TorNetworkDisabledError('off'),
    ];
    const codes = samples.map((e) => e.code);
    assert.equal(new Set(codes).size, codes.length);
    for (const code of codes) assert.match(code, /^TOR_[A-Z_]+$/);
  });
});
