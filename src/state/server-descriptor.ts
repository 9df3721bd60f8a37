/**
 * A relay's server descriptor (dir-spec 2.1.1), the document it publishes about itself, as
 * `GETINFO desc/id/<fingerprint>` gives it: read into typed fields. A pure parser.
 */
import { isIPv4 } from 'node:net';
import { parseTorTime } from '../control/events/field-parsers.js';
import { TorProtocolError } from '../errors.js';
import { isNickname } from '../util/relay-nickname.js';
import { checkItem, ntorKeyOf, onionKeyOf, isOrAddress, itemArgs, malformedItem, portNumber, readDescriptorItems, wholeNumber, type DescriptorItem, type ItemRules } from './descriptor-items.js';
import { REJECT_ALL_SUMMARY, parseExitPolicySummary, type ExitPolicySummary } from './exit-policy.js';

/** A relay's bandwidths as its descriptor states them, in bytes per second. */
export interface DescriptorBandwidth {
  /** What the relay is willing to sustain over long periods (its rate limit). */
  readonly average: number;
  /** What it is willing to sustain in short bursts. */
  readonly burst: number;
  /** What it has been seen to handle (its own estimate of its capacity). */
  readonly observed: number;
}

/**
 * A relay's server descriptor, as far as tor's clients use it. What it does not turn into a
 * field (keys and certificates other than the onion keys, signatures, digests, keywords newer
 * than this parser) is in {@link ServerDescriptor.otherLines}.
 */
export interface ServerDescriptor {
  /** From the `router` line. */
  readonly nickname: string;
  /** The IPv4 address of the OR port (`router` line). */
  readonly address: string;
  readonly orPort: number;
  /** 0 when the relay has no directory port. */
  readonly dirPort: number;
  /** The `platform` line verbatim, e.g. `Tor 0.4.9.1 on Linux`. */
  readonly platform: string | undefined;
  /** The `proto` line (subprotocol versions) verbatim, as `Router.protocols` gives it. */
  readonly protocols: string | undefined;
  /** When the relay generated the descriptor (UTC). */
  readonly published: Date;
  /** 40 hex digits, upper case, without the spaces the line has; undefined without the line. */
  readonly fingerprint: string | undefined;
  /** Seconds the relay's tor process had been running when it published this. */
  readonly uptime: number | undefined;
  readonly bandwidth: DescriptorBandwidth;
  /** The `family` line's entries (nicknames or `$FINGERPRINT`s, as the relay wrote them); `[]` without one. */
  readonly family: readonly string[];
  /** The `contact` line verbatim (the operator's free text). */
  readonly contact: string | undefined;
  /** The RSA onion key in PEM; newer tors leave it out. */
  readonly onionKey: string | undefined;
  /** The curve25519 key for the ntor handshake, base64 as the line has it. */
  readonly ntorOnionKey: string | undefined;
  /**
   * The full exit policy: each `accept`/`reject` line (keyword and pattern), in order,
   * e.g. `['accept 127.0.0.0/8:*', 'reject *:*']`. Unlike the consensus's summary, it is exact.
   */
  readonly exitPolicy: readonly string[];
  /** The `ipv6-policy` summary (as `Router.exitPolicyV6`); `reject 1-65535` without the line (dir-spec 2.1.1). */
  readonly exitPolicyV6: ExitPolicySummary;
  /** Further OR addresses (`or-address` lines), e.g. `[2001:db8::1]:9001`. */
  readonly orAddresses: readonly string[];
  /** `hibernating 1`: the relay was hibernating when it published this, and should not be used. */
  readonly hibernating: boolean;
  /** `tunnelled-dir-server`: it answers directory requests over its OR port. */
  readonly tunnelledDirServer: boolean;
  /** `caches-extra-info`: it serves extra-info documents. */
  readonly cachesExtraInfo: boolean;
  /** Every other keyword line, verbatim, in order, without its object. */
  readonly otherLines: readonly string[];
}

const WHAT = 'server descriptor';
const FINGERPRINT_LINE = /^[0-9A-Fa-f]{4}(?: [0-9A-Fa-f]{4}){9}$/;

/** Keywords dir-spec allows at most once among those read into fields. */
const ONCE = new Set([
  'router', 'bandwidth', 'platform', 'proto', 'published', 'fingerprint', 'hibernating', 'uptime', 'onion-key',
  'ntor-onion-key', 'ipv6-policy', 'contact', 'family', 'caches-extra-info', 'tunnelled-dir-server',
]);
/** The keywords read into fields that take no object (all but `onion-key`). */
const NO_OBJECT = new Set([...ONCE, 'accept', 'reject', 'or-address']);
NO_OBJECT.delete('onion-key');
const RULES: ItemRules = { once: ONCE, noObject: NO_OBJECT };

/**
 * Reads one server descriptor (the text of `GETINFO desc/id/<FP>` or `desc/name/<nickname>`).
 * Nothing is verified: not the signatures, not the certificates, not that the fingerprint matches
 * the identity key. tor checked them when it accepted the descriptor; text from elsewhere is
 * only as trustworthy as its source. Keywords it does not know are kept in `otherLines`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for text that is not one well-formed descriptor:
 *   no `router` line first, a missing `bandwidth` or `published`, an item given twice that may
 *   appear once, a malformed value in a field it reads, a broken object
 * @example
 * const d = parseServerDescriptor(await control.getInfo(`desc/id/${fingerprint}`));
 * d.platform // 'Tor 0.4.9.1 on Linux'
 * d.bandwidth.observed // bytes per second
 */
export function parseServerDescriptor(text: string): ServerDescriptor {
  const items = readDescriptorItems(text, WHAT);
  if (items[0]!.keyword !== 'router') throw new TorProtocolError(`${WHAT}: does not start with a router line`);
  const seen = new Set<string>();
  const exitPolicy: string[] = [];
  const orAddresses: string[] = [];
  const otherLines: string[] = [];
  let head: Pick<ServerDescriptor, 'nickname' | 'address' | 'orPort' | 'dirPort'> | undefined;
  let published: Date | undefined;
  let bandwidth: DescriptorBandwidth | undefined;
  let platform: string | undefined;
  let protocols: string | undefined;
  let fingerprint: string | undefined;
  let uptime: number | undefined;
  let family: readonly string[] = [];
  let contact: string | undefined;
  let onionKey: string | undefined;
  let ntorOnionKey: string | undefined;
  let exitPolicyV6 = REJECT_ALL_SUMMARY;
  let hibernating = false;
  let tunnelledDirServer = false;
  let cachesExtraInfo = false;

  for (const item of items) {
    const { keyword } = item;
    checkItem(item, RULES, seen, WHAT);
    switch (keyword) {
      case 'router':
        head = readRouterLine(item);
        break;
      case 'bandwidth': {
        const [average, burst, observed] = itemArgs(item).map(wholeNumber);
        if (average === undefined || burst === undefined || observed === undefined) throw malformed(item, 'needs three whole numbers');
        bandwidth = { average, burst, observed };
        break;
      }
      case 'published':
        published = readPublished(item);
        break;
      case 'platform':
        platform = item.args;
        break;
      case 'proto':
        protocols = item.args;
        break;
      case 'fingerprint':
        if (!FINGERPRINT_LINE.test(item.args)) throw malformed(item, 'is not 40 hex digits in groups of 4');
        fingerprint = item.args.replace(/ /g, '').toUpperCase();
        break;
      case 'uptime':
        uptime = wholeNumber(itemArgs(item)[0]);
        if (uptime === undefined) throw malformed(item, 'is not a whole number');
        break;
      case 'hibernating': {
        const flag = itemArgs(item)[0];
        if (flag !== '0' && flag !== '1') throw malformed(item, 'is not 0 or 1');
        hibernating = flag === '1';
        break;
      }
      case 'family':
        family = itemArgs(item);
        break;
      case 'contact':
        contact = item.args;
        break;
      case 'onion-key':
        onionKey = onionKeyOf(item, WHAT);
        break;
      case 'ntor-onion-key':
        ntorOnionKey = ntorKeyOf(item, WHAT);
        break;
      case 'accept':
      case 'reject':
        if (item.args === '') throw malformed(item, 'has no address pattern');
        exitPolicy.push(`${keyword} ${item.args}`);
        break;
      case 'ipv6-policy': {
        const summary = parseExitPolicySummary(item.args);
        if (summary === null) throw malformed(item, 'is not an exit-policy summary');
        exitPolicyV6 = summary;
        break;
      }
      case 'or-address':
        if (!isOrAddress(item.args)) throw malformed(item, 'is not address:port');
        orAddresses.push(item.args);
        break;
      case 'tunnelled-dir-server':
        tunnelledDirServer = true;
        break;
      case 'caches-extra-info':
        cachesExtraInfo = true;
        break;
      default:
        otherLines.push(item.line);
    }
  }
  if (bandwidth === undefined) throw new TorProtocolError(`${WHAT}: no bandwidth line`);
  if (published === undefined) throw new TorProtocolError(`${WHAT}: no published line`);
  return {
    ...head!,
    platform,
    protocols,
    published,
    fingerprint,
    uptime,
    bandwidth,
    family,
    contact,
    onionKey,
    ntorOnionKey,
    exitPolicy,
    exitPolicyV6,
    orAddresses,
    hibernating,
    tunnelledDirServer,
    cachesExtraInfo,
    otherLines,
  };
}

/** `router nickname address ORPort SOCKSPort DirPort` (SOCKSPort is always 0 and not kept). */
function readRouterLine(item: DescriptorItem): Pick<ServerDescriptor, 'nickname' | 'address' | 'orPort' | 'dirPort'> {
  const [nickname, address, or, socks, dir] = itemArgs(item);
  if (nickname === undefined || !isNickname(nickname)) throw malformed(item, 'has no valid nickname');
  if (address === undefined || !isIPv4(address)) throw malformed(item, 'has no IPv4 address');
  const orPort = portNumber(or);
  const dirPort = portNumber(dir);
  if (orPort === undefined || portNumber(socks) === undefined || dirPort === undefined) throw malformed(item, 'has no valid ports');
  return { nickname, address, orPort, dirPort };
}

function readPublished(item: DescriptorItem): Date {
  // tor writes `YYYY-MM-DD HH:MM:SS`, UTC: read as every other time tor writes.
  const published = parseTorTime(item.args, true);
  if (published === null) throw malformed(item, 'is not a UTC time YYYY-MM-DD HH:MM:SS');
  return published;
}

function malformed(item: DescriptorItem, why: string): TorProtocolError {
  return malformedItem(item, why, WHAT);
}
