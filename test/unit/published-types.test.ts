import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT, typeCheckAsConsumer } from '../support/consumer-tsc.js';

// The .d.ts files we publish are type-checked by every consumer that does not set skipLibCheck,
// under that consumer's options. Our own build does not use the strictest of them, so a declaration
// that only they reject (an optional property implemented by a `T | undefined` getter, under
// exactOptionalPropertyTypes) would reach users unseen: check the entry points as such a consumer.
const ENTRY_POINTS = ['index.d.ts', 'register.d.ts', 'testnet.d.ts'].map((f) => path.join(ROOT, 'dist/src', f));

describe('the published declaration files', function () {
  this.timeout(60_000);

  it('type-check in a consumer with strict, exactOptionalPropertyTypes and without skipLibCheck', async () => {
    const result = await typeCheckAsConsumer(ENTRY_POINTS, {}, { exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, skipLibCheck: false });
    assert.equal(result.out.trim(), '', 'tsc reported problems in the published types');
    assert.equal(result.code, 0);
  });
});
