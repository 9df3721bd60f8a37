import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AddressMapView, ExpiryHeap, pruneExpired, type AddressMapping } from '../../src/state/address-map.js';

function mapping(address: string, expiresAt: number, newAddress: string | null = '192.0.2.1'): AddressMapping {
  return {
    address,
    newAddress,
    expires: Number.isFinite(expiresAt) ? new Date(expiresAt) : null,
    expiresAt,
    error: undefined,
    cached: true,
    streamId: undefined,
  };
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
