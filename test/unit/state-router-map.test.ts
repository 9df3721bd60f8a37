import assert from 'node:assert/strict';
import { parseRouterStatuses, type ConsensusParseProblem } from '../../src/state/consensus-parser.js';
import { applyRouterStatuses, deferRouterStatuses } from '../../src/state/reducers.js';
import { RouterMap } from '../../src/state/router-map.js';
import { createSnapshot, describeSnapshot } from '../../src/state/snapshot.js';
import { RECORDED_INFO, RECORDED_RELAYS } from './state-recorded-session.js';

const NS = RECORDED_INFO['ns/all']!;
/** The recorded consensus with one malformed `r` line (an identity that is too short) appended. */
const NS_WITH_BAD_ENTRY = `${NS}\nr broken AAAA ZZZZ 2026-11-25 15:00:00 127.0.0.1 9001 0\ns Running`;

describe('state: RouterMap read lazily', () => {
  it('reads a consensus handed over unread on first use, with the same routers as an eager read', () => {
    const map = new RouterMap();
    map.replaceLazily(NS, undefined);
    assert.equal(map.unread, true);
    const fp = RECORDED_RELAYS['auth1']!;
    assert.equal(map.get(fp)?.nickname, 'auth1');
    assert.equal(map.unread, false);
    const eager = parseRouterStatuses(NS);
    assert.equal(map.size, eager.length);
    assert.deepEqual([...map.keys()].sort(), eager.map((r) => r.fingerprint).sort());
    // The same Router object on every read once read.
    assert.equal(map.get(fp), map.get(fp));
  });

  it('any operation reads it first: size, has, iteration, getByIdentity, add, delete', () => {
    const reads: Array<(m: RouterMap) => unknown> = [
      (m) => m.size,
      (m) => m.has(RECORDED_RELAYS['auth0']!),
      (m) => [...m],
      (m) => [...m.values()],
      (m) => [...m.entries()],
      (m) => m.forEach(() => undefined),
      (m) => m.getByIdentity('KxVT/0PleH8W72TiORgzX47o5GQ'),
      (m) => m.delete(RECORDED_RELAYS['auth2']!),
    ];
    for (const read of reads) {
      const map = new RouterMap();
      map.replaceLazily(NS, undefined);
      read(map);
      assert.equal(map.unread, false, String(read));
    }
    // An add after a lazy replace lands on top of the consensus, not instead of it.
    const map = new RouterMap();
    map.replaceLazily(NS, undefined);
    const extra = parseRouterStatuses(NS)[0]!;
    map.add(extra);
    assert.equal(map.size, 4);
    assert.equal(map.get(extra.fingerprint), extra);
  });

  it('clear() drops a consensus not read yet; a new replace drops the old routers', () => {
    const map = new RouterMap();
    map.replaceLazily(NS, undefined);
    map.clear();
    assert.equal(map.size, 0);
    for (const r of parseRouterStatuses(NS)) map.add(r);
    map.replaceLazily(NS.split('\nr ').slice(0, 1).join('\nr '), undefined);
    assert.equal(map.size, 1);
  });

  it('reports malformed entries when the text is read, and skips them', () => {
    const map = new RouterMap();
    const problems: ConsensusParseProblem[] = [];
    map.replaceLazily(NS_WITH_BAD_ENTRY, undefined, (p) => problems.push(p));
    assert.equal(problems.length, 0, 'nothing is read before the first use');
    assert.equal(map.size, 4);
    assert.deepEqual(
      problems.map((p) => /identity/.test(p.reason)),
      [true],
    );
  });
});

describe('state: deferRouterStatuses', () => {
  it('leaves the snapshot as applyRouterStatuses does, and bumps the router generation at once', () => {
    const eager = createSnapshot();
    applyRouterStatuses(eager, NS, true);
    const lazy = createSnapshot();
    const before = lazy.routerGeneration;
    deferRouterStatuses(lazy, NS);
    assert.equal(lazy.routerGeneration, before + 1);
    assert.deepEqual(describeSnapshot(lazy).routers, describeSnapshot(eager).routers);
  });
});
