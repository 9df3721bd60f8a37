import { forEachRouterStatus, type ConsensusParseProblem } from './consensus-parser.js';
import type { Router, RouterContext } from './router.js';
import { fingerprintToIdentity } from './router-status.js';

/** A consensus text given to {@link RouterMap.replaceLazily} and not read yet. */
interface PendingConsensus {
  text: string;
  context: RouterContext | undefined;
  onProblem: ((problem: ConsensusParseProblem) => void) | undefined;
}

/**
 * The routers of a consensus by fingerprint. Stored by their base64 identity (what the consensus
 * writes) so that reading a consensus decodes no fingerprints; a lookup converts the 40-hex
 * fingerprint it is given instead (either case), and iteration yields each router's fingerprint.
 * Reads behave as a `ReadonlyMap<fingerprint, Router>`.
 *
 * A whole consensus can be handed over unread ({@link replaceLazily}): its entries are read by
 * the first operation on the map, whatever it is, so every read sees the same routers as if they
 * had been read at once. The live state uses this so that being ready does not wait for 8,000
 * entries nobody may look at soon.
 */
export class RouterMap implements ReadonlyMap<string, Router> {
  private readonly byIdentity = new Map<string, Router>();
  private pending: PendingConsensus | null = null;

  /** How many routers. */
  get size(): number {
    return this.read().size;
  }

  /** The router with this fingerprint (40 hex digits, either case), if listed. */
  get(fingerprint: string): Router | undefined {
    const id = fingerprintToIdentity(fingerprint);
    return id === null ? undefined : this.read().get(id);
  }

  /** Whether a router with this fingerprint is listed. */
  has(fingerprint: string): boolean {
    const id = fingerprintToIdentity(fingerprint);
    return id !== null && this.read().has(id);
  }

  /** The router with this base64 identity (as `r` lines write it), if listed. */
  getByIdentity(identity: string): Router | undefined {
    return this.read().get(identity);
  }

  /** Adds or replaces a router (keyed by its identity). */
  add(router: Router): void {
    this.read().set(router.identity, router);
  }

  /** Removes the router with this fingerprint; whether there was one. */
  delete(fingerprint: string): boolean {
    const id = fingerprintToIdentity(fingerprint);
    return id !== null && this.read().delete(id);
  }

  /** Removes every router (and drops a consensus not read yet). */
  clear(): void {
    this.pending = null;
    this.byIdentity.clear();
  }

  /**
   * Replaces every router with the entries of `text` (as {@link forEachRouterStatus} reads them),
   * read on the map's next use rather than now.
   *
   * @param onProblem - told about each malformed entry when the text is read
   */
  replaceLazily(
    text: string,
    context: RouterContext | undefined,
    onProblem?: (problem: ConsensusParseProblem) => void,
  ): void {
    this.byIdentity.clear();
    this.pending = { text, context, onProblem };
  }

  /** Whether a consensus handed to {@link replaceLazily} is still unread. */
  get unread(): boolean {
    return this.pending !== null;
  }

  /** The map, after reading a pending consensus into it. */
  private read(): Map<string, Router> {
    const p = this.pending;
    if (p !== null) {
      this.pending = null;
      const map = this.byIdentity;
      const opts = p.onProblem === undefined ? { context: p.context } : { context: p.context, onProblem: p.onProblem };
      forEachRouterStatus(p.text, (r) => map.set(r.identity, r), opts);
    }
    return this.byIdentity;
  }

  forEach(fn: (value: Router, key: string, map: ReadonlyMap<string, Router>) => void, thisArg?: unknown): void {
    for (const r of this.read().values()) fn.call(thisArg, r, r.fingerprint, this);
  }

  *entries(): MapIterator<[string, Router]> {
    for (const r of this.read().values()) yield [r.fingerprint, r];
  }

  *keys(): MapIterator<string> {
    for (const r of this.read().values()) yield r.fingerprint;
  }

  values(): MapIterator<Router> {
    return this.read().values();
  }

  [Symbol.iterator](): MapIterator<[string, Router]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'RouterMap';
  }
}
