import assert from 'node:assert/strict';
import { isNickname } from '../../src/util/relay-nickname.js';

describe('isNickname (dir-spec: 1 to 19 letters and digits)', () => {
  const cases: Array<[string, boolean]> = [
    ['a', true],
    ['moria1', true],
    ['Test0Relay9', true],
    ['A123456789012345678', true], // 19 characters
    ['A1234567890123456789', false], // 20
    ['', false],
    ['has space', false],
    ['under_score', false],
    ['dash-ed', false],
    ['$ABCDEF', false],
    ['relay\n', false], // no line end slips past the anchors
    ['rélais', false], // ASCII only
  ];
  for (const [value, expected] of cases) {
    it(`${JSON.stringify(value)} -> ${expected}`, () => assert.equal(isNickname(value), expected));
  }
});
