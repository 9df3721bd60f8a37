/**
 * A checker for tor's address-policy values (`ExitPolicy`, `SocksPolicy`, `MetricsPortPolicy`...):
 * comma-separated entries of the form `accept|reject[6] ADDRESS[/MASK][:PORT]` (tor's manual,
 * ExitPolicy).
 *
 * Why torcon checks what tor checks: tor 0.4.9 does not validate `MetricsPortPolicy` when a
 * controller sets it. A malformed value passes SETCONF's validation and then fails where tor acts
 * on its options, and tor exits ("Acting on config options left us in a broken state. Dying."),
 * taking every application that uses it down. For the other policy options tor answers 513 and
 * lives. So TorConfig refuses a malformed MetricsPortPolicy before sending it.
 *
 * The grammar here is the manual's, and strict: tor also takes some odd spellings (`:+80`, a port
 * with leading zeros, `[::1]80`, `accept6` with an IPv4 address, which it then ignores), which
 * are refused here with a message naming the form to use. Everything accepted here tor accepts
 * (test/integration/config.test.ts checks both against a tor).
 */

import { isIPv4, isIPv6 } from 'node:net';

const ACTION = /^(?:accept|reject)6?$/;
const DECIMAL = /^(?:0|[1-9]\d*)$/;

/** The form every entry must have, for messages. */
export const POLICY_ENTRY_FORM = 'accept|reject[6] ADDRESS[/MASK][:PORT]';

/**
 * What is wrong with one line of an address-policy option, or undefined when every entry is well
 * formed. Entries are separated by commas; empty ones are skipped, as tor skips them.
 *
 * @param line - one line's value (one element of the option's list)
 * @returns a reason that names the entry by position (never quoting it), or undefined
 */
export function addressPolicyProblem(line: string): string | undefined {
  const entries = line.split(',');
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!.trim();
    if (entry === '') continue;
    const problem = entryProblem(entry);
    if (problem !== undefined) return `entry ${i + 1}: ${problem} (expected ${POLICY_ENTRY_FORM})`;
  }
  return undefined;
}

function entryProblem(entry: string): string | undefined {
  const words = entry.split(/[ \t]+/);
  const action = words[0]!;
  if (!ACTION.test(action)) return 'does not start with accept, reject, accept6 or reject6 (in lower case)';
  if (words.length !== 2) return words.length < 2 ? 'has no address' : 'has more than one address (no spaces inside one)';
  return patternProblem(words[1]!, action.endsWith('6'));
}

/** `ADDRESS[/MASK][:PORT]`. */
function patternProblem(pattern: string, ipv6Only: boolean): string | undefined {
  let address: string;
  let rest: string;
  if (pattern.startsWith('[')) {
    const close = pattern.indexOf(']');
    if (close === -1) return 'has an IPv6 address without its closing ]';
    address = pattern.slice(0, close + 1);
    rest = pattern.slice(close + 1);
  } else {
    const end = pattern.search(/[/:]/);
    address = end === -1 ? pattern : pattern.slice(0, end);
    rest = end === -1 ? '' : pattern.slice(end);
  }
  let mask: string | undefined;
  let port: string | undefined;
  if (rest.startsWith('/')) {
    const colon = rest.indexOf(':');
    mask = colon === -1 ? rest.slice(1) : rest.slice(1, colon);
    rest = colon === -1 ? '' : rest.slice(colon);
  }
  if (rest.startsWith(':')) port = rest.slice(1);
  else if (rest !== '') return 'has something after the address that is neither /MASK nor :PORT';

  const family = addressFamily(address);
  if (family === undefined) return 'has an address that is not *, *4, *6, private, an IPv4 address or an [IPv6] address';
  if (ipv6Only && family === 4) return 'uses accept6/reject6 with an IPv4 address (tor ignores such an entry: use accept/reject)';
  if (family === 'private') {
    if (mask !== undefined) return 'gives a mask to private';
    if (port === undefined) return 'gives private without a port (write private:*)';
  }
  if (mask !== undefined) {
    if (address.startsWith('*')) return 'gives a mask to a wildcard address';
    const problem = maskProblem(mask, family === 6 ? 6 : 4);
    if (problem !== undefined) return problem;
  }
  return port === undefined ? undefined : portProblem(port);
}

function addressFamily(address: string): 4 | 6 | '*' | 'private' | undefined {
  if (address === '*') return '*';
  if (address === '*4') return 4;
  if (address === '*6') return 6;
  if (address === 'private') return 'private';
  if (isIPv4(address)) return 4;
  if (address.startsWith('[') && address.endsWith(']')) {
    const inner = address.slice(1, -1);
    // Node's isIPv6 takes a zone (fe80::1%eth0); tor's parser does not.
    if (!inner.includes('%') && isIPv6(inner)) return 6;
  }
  return undefined;
}

function maskProblem(mask: string, family: 4 | 6): string | undefined {
  const max = family === 4 ? 32 : 128;
  if (DECIMAL.test(mask)) return Number(mask) <= max ? undefined : `has a mask longer than ${max} bits`;
  if (family === 4 && isIPv4(mask)) {
    // A dotted netmask must be contiguous ones, then zeros.
    const bits = mask.split('.').reduce((n, part) => n * 256 + Number(part), 0);
    const inverted = 0xffffffff - bits;
    return (inverted & (inverted + 1)) === 0 ? undefined : 'has a netmask whose ones are not contiguous';
  }
  return 'has a mask that is not a number of bits' + (family === 4 ? ' or a dotted netmask' : '');
}

function portProblem(port: string): string | undefined {
  if (port === '*') return undefined;
  const dash = port.indexOf('-');
  const [low, high] = dash === -1 ? [port, port] : [port.slice(0, dash), port.slice(dash + 1)];
  if (!DECIMAL.test(low) || !DECIMAL.test(high)) return 'has a port that is not *, N or N-M';
  const a = Number(low);
  const b = Number(high);
  if (a < 1 || b > 65535) return 'has a port outside 1 to 65535';
  if (a > b) return 'has a port range whose start is after its end';
  return undefined;
}
