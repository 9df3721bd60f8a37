/**
 * tor's `__LeaveStreamsUnattached`, shared by every TorState on one control connection. It is one
 * setting of tor's: when two states attach streams (an attacher, a pinned connection), the first to
 * need it sets it, and it goes back to what it was only when the last one is done. Each state
 * keeping its own memory of it would let one reset it under the other (seen on tor 0.4.9: the
 * second state's attacher was then never asked).
 */

import type { TorControl } from '../control/tor-control.js';

/** The holders of one connection's `__LeaveStreamsUnattached 1`. */
export class LeaveUnattachedClaims {
  private readonly holders = new Set<object>();
  /** tor's value before the first claim; undefined until first needed. */
  private original: string | undefined = undefined;
  /** We set it to 1 and must reset it. */
  private owned = false;
  /** Claims and releases run one at a time, in order. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly control: TorControl) {}

  /** `holder` needs streams left unattached; resolves once tor has the setting. */
  claim(holder: object): Promise<void> {
    return this.serial(async () => {
      this.holders.add(holder);
      if (this.original === undefined) {
        const conf = await this.control.getConf(['__LeaveStreamsUnattached']);
        this.original = conf['__LeaveStreamsUnattached']?.[0] ?? '0';
      }
      if (this.original !== '1' && !this.owned) {
        await this.control.setConf({ __LeaveStreamsUnattached: 1 });
        this.owned = true;
      }
    });
  }

  /** `holder` no longer needs it; the last release puts back tor's own value. */
  release(holder: object): Promise<void> {
    return this.serial(async () => {
      this.holders.delete(holder);
      if (this.holders.size > 0) return;
      if (!this.owned) {
        this.original = undefined;
        return;
      }
      // Marked first: if the reset fails (connection gone) there is nothing left to undo.
      this.owned = false;
      const original = this.original ?? '0';
      // Read again at the next claim: someone else may change it meanwhile.
      this.original = undefined;
      if (!this.control.closed) await this.control.setConf({ __LeaveStreamsUnattached: original });
    });
  }

  private serial(run: () => Promise<void>): Promise<void> {
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

const byControl = new WeakMap<TorControl, LeaveUnattachedClaims>();

/** The claims on `control`'s setting (one object per connection). */
export function leaveUnattachedClaims(control: TorControl): LeaveUnattachedClaims {
  let claims = byControl.get(control);
  if (claims === undefined) byControl.set(control, (claims = new LeaveUnattachedClaims(control)));
  return claims;
}
