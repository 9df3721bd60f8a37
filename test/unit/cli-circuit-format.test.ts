import assert from 'node:assert/strict';
import { formatHop, shortLocation } from '../../src/cli/commands/circuit-format.js';
import { renderScreen } from '../../src/cli/commands/monitor-command.js';

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

describe('cli: the `torcon monitor` screen', () => {
  const hop = (nickname: string) => ({ nickname, fingerprint: nickname.toUpperCase().padEnd(40, 'A'), location: async () => ({}) });
  const circuit = (id: string, createdAt: number) => ({ id, status: 'BUILT', purpose: 'GENERAL', timeCreated: new Date(createdAt), path: [hop('guard'), hop('middle'), hop('exit')] });
  const fakeState = (n: number, createdAt: number) =>
    ({
      routers: new Map([['A'.repeat(40), {}]]),
      circuits: new Map(Array.from({ length: n }, (_, i) => [String(i + 1), circuit(String(i + 1), createdAt)])),
      streams: new Map(),
    }) as never;

  it('its key leaves out the clock and the ages, so that a screen that only aged is not printed again off a terminal', async () => {
    const created = Date.parse('2026-11-27T06:00:00Z');
    const a = await renderScreen(fakeState(2, created), new Map(), created + 5_000);
    const b = await renderScreen(fakeState(2, created), new Map(), created + 65_000);
    assert.notEqual(a.text, b.text, 'the text shows the time and the ages');
    assert.equal(a.key, b.key);
    assert.match(a.text, /^1 +BUILT +GENERAL +5s +guard → middle → exit$/m);
    const c = await renderScreen(fakeState(3, created), new Map(), created + 65_000);
    assert.notEqual(c.key, b.key, 'a new circuit changes the key');
  });

  it('on a terminal of N rows it is cut to fit, the last line saying how many more there are', async () => {
    const created = Date.parse('2026-11-27T06:00:00Z');
    const full = await renderScreen(fakeState(10_000, created), new Map(), created);
    assert.equal(full.text.split('\n').length - 1, 3 + 10_000 + 2);
    const cut = await renderScreen(fakeState(10_000, created), new Map(), created, 24);
    const lines = cut.text.split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, 23, 'one row left for the cursor');
    assert.match(lines.at(-1)!, /^… 9983 more lines \(a taller terminal, or torcon monitor --json, shows them\)$/);
    assert.equal(cut.key, full.key);
  });
});
