import assert from 'node:assert/strict';
import { formatHop, shortLocation } from '../../src/cli/commands/circuit-format.js';

describe('cli: a circuit hop as `torcon monitor` shows it', () => {
  it('names the relay, with its country in brackets only when one is known', async () => {
    const placed = { nickname: 'relay1', fingerprint: 'A'.repeat(40), location: async () => ({ countryCode: 'DE' }) };
    const unplaced = { nickname: 'auth0', fingerprint: 'B'.repeat(40), location: async () => ({}) };
    const failing = { nickname: 'x', fingerprint: 'C'.repeat(40), location: async () => Promise.reject(new Error('no database')) };
    assert.equal(formatHop('relay1', await shortLocation(placed)), 'relay1 [DE]');
    assert.equal(formatHop('auth0', await shortLocation(unplaced)), 'auth0');
    assert.equal(formatHop('x', await shortLocation(failing)), 'x');
  });
});
