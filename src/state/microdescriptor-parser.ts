/**
 * One relay's microdescriptor (dir-spec 3.3), the part of its server descriptor that clients
 * using microdescriptors (tor's default) download, as `GETINFO md/id/<fingerprint>` gives it:
 * read into typed fields. A pure parser.
 */
import { TorProtocolError } from '../errors.js';
import { BASE64_KEY, checkItem, ntorKeyOf, onionKeyOf, isOrAddress, itemArgs, malformedItem, readDescriptorItems, type DescriptorItem, type ItemRules } from './descriptor-items.js';
import { REJECT_ALL_SUMMARY, parseExitPolicySummary, type ExitPolicySummary } from './exit-policy.js';

/** A relay's microdescriptor. */
export interface Microdescriptor {
  /** The RSA onion key in PEM; newer tors leave it out. */
  readonly onionKey: string | undefined;
  /** The curve25519 key for the ntor handshake, base64 as the line has it. */
  readonly ntorOnionKey: string | undefined;
  /** Further OR addresses (`a` lines), e.g. `[2001:db8::1]:9001`. */
  readonly orAddresses: readonly string[];
  /** The `family` line's entries (as the authorities normalised them); `[]` without one. */
  readonly family: readonly string[];
  /** The `p` line's exit-policy summary; `reject 1-65535` without one (dir-spec 3.3). */
  readonly exitPolicy: ExitPolicySummary;
  /** The `p6` line's, the same way. */
  readonly exitPolicyV6: ExitPolicySummary;
  /**
   * The `id` lines by key type, e.g. `{ ed25519: '0zjp...' }` (base64 as the line has it; `rsa1024`
   * is the identity digest).
   */
  readonly identities: Readonly<Record<string, string>>;
  /** Every other keyword line, verbatim, in order, without its object. */
  readonly otherLines: readonly string[];
}

const WHAT = 'microdescriptor';
const ID_TYPE = /^[A-Za-z0-9-]+$/;
/** Keywords dir-spec allows at most once among those read into fields. */
const ONCE = new Set(['onion-key', 'ntor-onion-key', 'family', 'p', 'p6']);
/** The keywords read into fields that take no object (all but `onion-key`). */
const NO_OBJECT = new Set(['ntor-onion-key', 'family', 'p', 'p6', 'a', 'id']);
const RULES: ItemRules = { once: ONCE, noObject: NO_OBJECT };

/**
 * Reads one microdescriptor (the text of `GETINFO md/id/<FP>`). Nothing is verified: the digest
 * that the consensus names for it is not checked (tor did, when it accepted it). Keywords it does
 * not know are kept in `otherLines`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for text that is not one well-formed
 *   microdescriptor: an item given twice that may appear once (two microdescriptors, say), a
 *   malformed value in a field it reads, a broken object
 * @example
 * const md = parseMicrodescriptor(await control.getInfo(`md/id/${fingerprint}`));
 * md.exitPolicy // { policy: 'reject', ranges: [[1, 65535]] }
 */
export function parseMicrodescriptor(text: string): Microdescriptor {
  const items = readDescriptorItems(text, WHAT);
  const seen = new Set<string>();
  const orAddresses: string[] = [];
  const identities: Record<string, string> = Object.create(null) as Record<string, string>;
  const otherLines: string[] = [];
  let onionKey: string | undefined;
  let ntorOnionKey: string | undefined;
  let family: readonly string[] = [];
  let exitPolicy = REJECT_ALL_SUMMARY;
  let exitPolicyV6 = REJECT_ALL_SUMMARY;

  for (const item of items) {
    const { keyword } = item;
    checkItem(item, RULES, seen, WHAT);
    switch (keyword) {
      case 'onion-key':
        onionKey = onionKeyOf(item, WHAT);
        break;
      case 'ntor-onion-key':
        ntorOnionKey = ntorKeyOf(item, WHAT);
        break;
      case 'a':
        if (!isOrAddress(item.args)) throw malformed(item, 'is not address:port');
        orAddresses.push(item.args);
        break;
      case 'family':
        family = itemArgs(item);
        break;
      case 'p':
        exitPolicy = summary(item);
        break;
      case 'p6':
        exitPolicyV6 = summary(item);
        break;
      case 'id': {
        const [type, value] = itemArgs(item);
        if (type === undefined || value === undefined || !ID_TYPE.test(type) || !BASE64_KEY.test(value)) throw malformed(item, 'is not a key type and a base64 key');
        if (type in identities) throw malformed(item, `gives a second ${type} key`);
        identities[type] = value;
        break;
      }
      default:
        otherLines.push(item.line);
    }
  }
  // Built without a prototype, so that an `id` type such as `constructor` is not taken for one
  // given before; handed out as a plain object (deepEqual, spreading).
  return { onionKey, ntorOnionKey, orAddresses, family, exitPolicy, exitPolicyV6, identities: { ...identities }, otherLines };
}

function summary(item: DescriptorItem): ExitPolicySummary {
  const parsed = parseExitPolicySummary(item.args);
  if (parsed === null) throw malformed(item, 'is not an exit-policy summary');
  return parsed;
}

function malformed(item: DescriptorItem, why: string): TorProtocolError {
  return malformedItem(item, why, WHAT);
}
