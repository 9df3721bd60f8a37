import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AddressMapView, AddressMapping, ExpiryHeap, needsExpiryEntry, pruneExpired } from '../../src/state/address-map.js';

function mapping(address: string, expiresAt: number, newAddress: string | null = '192.0.2.1'): AddressMapping {
  return AddressMapping.fromEvent({
    type: 'ADDRMAP',
    raw: '',
    extra: {},
    address,
    newAddress,
    expires: Number.isFinite(expiresAt) ? new Date(expiresAt) : null,
    error: undefined,
    cached: true,
    streamId: undefined,
  });
}

describe('state: address-map expiry', () => {
  it('the heap pops mappings in expiry order (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1e9 }), { maxLength: 200 }), (times) => {
        const heap = new ExpiryHeap();
        times.forEach((t, i) => heap.push(mapping(`h${i}`, t)));
        assert.equal(heap.size, times.length);
        const popped: number[] = [];
        for (let m = heap.pop(); m !== undefined; m = heap.pop()) popped.push(m.expiresAt);
        assert.deepEqual(popped, [...times].sort((a, b) => a - b));
        assert.equal(heap.peekTime(), Infinity);
      }),
    );
  });

  it('prunes what expired, skipping mappings that were replaced since', () => {
    const map = new Map<string, AddressMapping>();
    const heap = new ExpiryHeap();
    const add = (m: AddressMapping) => {
      map.set(m.address, m);
      if (m.expiresAt !== Infinity) heap.push(m);
    };
    add(mapping('a', 100));
    add(mapping('b', 200));
    add(mapping('c', Infinity));
    add(mapping('a', 300)); // replaces a@100
    const expired: string[] = [];
    pruneExpired(map, heap, 250, (m) => expired.push(`${m.address}@${m.expiresAt}`));
    assert.deepEqual(expired, ['b@200']);
    assert.deepEqual([...map.keys()].sort(), ['a', 'c']);
    pruneExpired(map, heap, 300, (m) => expired.push(`${m.address}@${m.expiresAt}`));
    assert.deepEqual(expired, ['b@200', 'a@300']);
    assert.deepEqual([...map.keys()], ['c']);
  });

  it('a replacement with the same expiry reuses the heap entry, and is what expires', () => {
    const map = new Map<string, AddressMapping>();
    const heap = new ExpiryHeap();
    const add = (m: AddressMapping) => {
      if (needsExpiryEntry(map.get(m.address), m)) heap.push(m);
      map.set(m.address, m);
    };
    add(mapping('a', 100, '192.0.2.1'));
    add(mapping('a', 100, '192.0.2.2'));
    add(mapping('a', 100, '192.0.2.3'));
    add(mapping('n', Infinity));
    assert.equal(heap.size, 1);
    const expired: AddressMapping[] = [];
    pruneExpired(map, heap, 100, (m) => expired.push(m));
    assert.deepEqual(expired.map((m) => m.newAddress), ['192.0.2.3']);
    assert.deepEqual([...map.keys()], ['n']);
  });

  it('keeps expiry right under any sequence of mappings (property, against a naive model)', () => {
    const op = fc.record({ address: fc.constantFrom('a', 'b', 'c', 'd'), expiresAt: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.constant(Infinity)), now: fc.integer({ min: 0, max: 3 }) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const map = new Map<string, AddressMapping>();
        const heap = new ExpiryHeap();
        const model = new Map<string, number>();
        let now = 0;
        for (const o of ops) {
          now += o.now;
          const m = mapping(o.address, o.expiresAt);
          if (needsExpiryEntry(map.get(o.address), m)) heap.push(m);
          map.set(o.address, m);
          model.set(o.address, o.expiresAt);
          pruneExpired(map, heap, now);
          for (const [k, t] of model) if (t <= now) model.delete(k);
          assert.deepEqual([...map.keys()].sort(), [...model.keys()].sort());
        }
      }),
    );
  });

  it('the view hides expired mappings on every kind of read', () => {
    let now = 1000;
    const map = new Map<string, AddressMapping>();
    const heap = new ExpiryHeap();
    for (const m of [mapping('x', 1500), mapping('y', 2500), mapping('z', Infinity)]) {
      map.set(m.address, m);
      if (m.expiresAt !== Infinity) heap.push(m);
    }
    const expired: string[] = [];
    const view = new AddressMapView(map, () => pruneExpired(map, heap, now, (m) => expired.push(m.address)));
    assert.equal(view.size, 3);
    now = 2000;
    assert.equal(view.get('x'), undefined);
    assert.equal(view.has('y'), true);
    assert.deepEqual([...view.keys()].sort(), ['y', 'z']);
    now = 3000;
    assert.deepEqual([...view].map(([k]) => k), ['z']);
    assert.deepEqual([...view.values()].map((m) => m.address), ['z']);
    const seen: string[] = [];
    view.forEach((_, k, m) => {
      assert.equal(m, view);
      seen.push(k);
    });
    assert.deepEqual(seen, ['z']);
    assert.deepEqual(expired, ['x', 'y']);
  });
});
