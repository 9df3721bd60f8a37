import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { ChurnMap, RENEW_AFTER_DELETES } from '../../src/state/churn-map.js';

describe('state: ChurnMap', () => {
  it('behaves as a Map through many renewals: same entries, same insertion order', () => {
    // Operations on small keys so that sets and deletes hit existing entries often.
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 40 }), value: fc.integer() }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 40 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 0, maxLength: 3 * RENEW_AFTER_DELETES }), (ops) => {
        const churn = new ChurnMap<number, number>();
        const model = new Map<number, number>();
        for (const o of ops) {
          if (o.kind === 'set') {
            churn.set(o.key, o.value);
            model.set(o.key, o.value);
          } else {
            assert.equal(churn.delete(o.key), model.delete(o.key));
          }
        }
        assert.equal(churn.size, model.size);
        assert.deepEqual([...churn], [...model]);
        assert.deepEqual([...churn.keys()], [...model.keys()]);
        assert.deepEqual([...churn.values()], [...model.values()]);
        assert.equal(churn.firstKey(), model.keys().next().value);
        for (let k = 0; k <= 40; k++) {
          assert.equal(churn.has(k), model.has(k));
          assert.equal(churn.get(k), model.get(k));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('keeps its entries across a renewal and after clear starts empty', () => {
    const m = new ChurnMap<string, number>();
    for (let i = 0; i < RENEW_AFTER_DELETES + 10; i++) m.set(`k${i}`, i);
    // Exactly RENEW_AFTER_DELETES deletions: the last one moves the rest to a fresh Map.
    for (let i = 0; i < RENEW_AFTER_DELETES; i++) assert.equal(m.delete(`k${i}`), true);
    assert.equal(m.size, 10);
    assert.deepEqual([...m.keys()], Array.from({ length: 10 }, (_, i) => `k${RENEW_AFTER_DELETES + i}`));
    assert.equal(m.delete('absent'), false);
    const seen: Array<[string, number]> = [];
    m.forEach((v, k, map) => {
      assert.equal(map, m);
      seen.push([k, v]);
    });
    assert.equal(seen.length, 10);
    m.clear();
    assert.equal(m.size, 0);
    assert.equal(m.firstKey(), undefined);
  });

  it('prints and tags itself as the Map it stands for', () => {
    const m = new ChurnMap<string, number>().set('a', 1);
    assert.equal(inspect(m), inspect(new Map([['a', 1]])));
    assert.equal(Object.prototype.toString.call(m), '[object Map]');
  });
});
