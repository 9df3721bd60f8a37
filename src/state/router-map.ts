import type { Router } from './router.js';
import { fingerprintToIdentity } from './router-status.js';

/**
 * The routers of a consensus by fingerprint. Stored by their base64 identity (what the consensus
 * writes) so that reading a consensus decodes no fingerprints; a lookup converts the 40-hex
 * fingerprint it is given instead (either case), and iteration yields each router's fingerprint.
 * Reads behave as a `ReadonlyMap<fingerprint, Router>`.
 */
export class RouterMap implements ReadonlyMap<string, Router> {
  private readonly byIdentity = new Map<string, Router>();

  /** How many routers. */
  get size(): number {
    return this.byIdentity.size;
  }

  /** The router with this fingerprint (40 hex digits, either case), if listed. */
  get(fingerprint: string): Router | undefined {
    const id = fingerprintToIdentity(fingerprint);
    return id === null ? undefined : this.byIdentity.get(id);
  }

  /** Whether a router with this fingerprint is listed. */
  has(fingerprint: string): boolean {
    const id = fingerprintToIdentity(fingerprint);
    return id !== null && this.byIdentity.has(id);
  }

  /** The router with this base64 identity (as `r` lines write it), if listed. */
  getByIdentity(identity: string): Router | undefined {
    return this.byIdentity.get(identity);
  }

  /** Adds or replaces a router (keyed by its identity). */
  add(router: Router): void {
    this.byIdentity.set(router.identity, router);
  }

  /** Removes the router with this fingerprint; whether there was one. */
  delete(fingerprint: string): boolean {
    const id = fingerprintToIdentity(fingerprint);
    return id !== null && this.byIdentity.delete(id);
  }

  /** Removes every router. */
  clear(): void {
    this.byIdentity.clear();
  }

  forEach(fn: (value: Router, key: string, map: ReadonlyMap<string, Router>) => void, thisArg?: unknown): void {
    for (const r of this.byIdentity.values()) fn.call(thisArg, r, r.fingerprint, this);
  }

  *entries(): MapIterator<[string, Router]> {
    for (const r of this.byIdentity.values()) yield [r.fingerprint, r];
  }

  *keys(): MapIterator<string> {
    for (const r of this.byIdentity.values()) yield r.fingerprint;
  }

  values(): MapIterator<Router> {
    return this.byIdentity.values();
  }

  [Symbol.iterator](): MapIterator<[string, Router]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'RouterMap';
  }
}
