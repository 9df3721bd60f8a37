import { TorInvalidValueError } from '../../errors.js';
import { isNickname } from '../../util/relay-nickname.js';

/**
 * Pure torrc generation for the private loopback test network. Nothing here touches the disk or
 * spawns anything, so every line that keeps a node off the public Tor network can be checked by
 * unit tests (and is re-checked by {@link assertTorrcSafe} before any node starts).
 */

/** What a node does in the test network. */
export type TestNodeRole = 'authority' | 'relay' | 'client';

/** The loopback address every node binds to and advertises. */
export const LOOPBACK = '127.0.0.1';

/** One node's identity and ports, as the launcher planned them. */
export interface TestNodeSpec {
  /** 1–19 letters and digits, unique inside a network. */
  nickname: string;
  role: TestNodeRole;
  /** Absolute path of the node's DataDirectory. */
  dataDir: string;
  /** Control port on 127.0.0.1 (every node has one, for monitoring and a clean stop). */
  controlPort: number;
  /** OR port on 127.0.0.1 (authorities and relays). */
  orPort?: number;
  /** Directory port on 127.0.0.1 (authorities and relays). */
  dirPort?: number;
  /** SOCKS port on 127.0.0.1 (the client only). */
  socksPort?: number;
  /**
   * Start with `DisableNetwork 1` (the client only): the launcher starts the client together with
   * the authorities, offline, and switches its network on once the consensus is complete. That
   * saves the client's start-up time, and the client never sees an incomplete consensus.
   */
  startOffline?: boolean;
}

/** The facts about one authority that every node's `DirAuthority` line needs. */
export interface AuthorityIdentity {
  nickname: string;
  orPort: number;
  dirPort: number;
  /** Authority v3 identity: 40 hex, from the `fingerprint` line of its certificate. */
  v3Ident: string;
  /** Relay identity fingerprint: 40 hex, from `tor --list-fingerprint`. */
  fingerprint: string;
}

/** Network-wide inputs to {@link buildNodeTorrc}. */
export interface NetworkTorrcContext {
  /** Every authority of the network (at least one). */
  authorities: readonly AuthorityIdentity[];
  /** PID of the process that owns the network: nodes exit when it dies. */
  ownerPid: number;
  /** A resolv.conf naming only `nameserver 127.0.0.1`, so exits never resolve through a real DNS. */
  resolvConfFile: string;
}

/** Exactly what the resolv.conf given to every node must contain. */
export const LOOPBACK_RESOLV_CONF = 'nameserver 127.0.0.1\n';

/** Flags a relay needs in the consensus before the network is usable. */
export const REQUIRED_FLAGS = ['Exit', 'Fast', 'Guard', 'HSDir', 'Running', 'Stable', 'Valid'] as const;

const HEX40_RE = /^[0-9A-F]{40}$/;
// torrc values end at '#' (comment) and split on spaces inside Log lines: allow only plain paths.
const PATH_RE = /^\/[A-Za-z0-9_./+,@=:~-]*$/;

function checkNickname(value: string): void {
  if (!isNickname(value)) throw new TorInvalidValueError('nickname', 'must be 1-19 letters or digits');
}

function checkPort(field: string, value: number | undefined): number {
  if (value === undefined || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new TorInvalidValueError(field, 'must be an integer from 1 to 65535');
  }
  return value;
}

/**
 * Checks that a path can be written into a torrc unquoted.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for relative paths or unusual characters
 */
export function checkTorrcPath(field: string, value: string): void {
  if (!PATH_RE.test(value) || value.includes('..')) {
    throw new TorInvalidValueError(
      field,
      'must be an absolute path of letters, digits and _ . / + , @ = : ~ - (no spaces, no "..")',
    );
  }
}

function checkHex40(field: string, value: string): void {
  if (!HEX40_RE.test(value)) throw new TorInvalidValueError(field, 'must be 40 upper-case hex digits');
}

/**
 * The `DirAuthority` line naming one authority on 127.0.0.1.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a bad nickname, port or fingerprint
 * @example dirAuthorityLine({ nickname: 'auth0', orPort: 5000, dirPort: 5001, v3Ident: 'AB…', fingerprint: 'CD…' })
 * // 'DirAuthority auth0 orport=5000 no-v2 v3ident=AB… 127.0.0.1:5001 CD…'
 */
export function dirAuthorityLine(a: AuthorityIdentity): string {
  checkNickname(a.nickname);
  checkPort('authority orPort', a.orPort);
  checkPort('authority dirPort', a.dirPort);
  checkHex40('authority v3ident', a.v3Ident);
  checkHex40('authority fingerprint', a.fingerprint);
  return `DirAuthority ${a.nickname} orport=${a.orPort} no-v2 v3ident=${a.v3Ident} ${LOOPBACK}:${a.dirPort} ${a.fingerprint}`;
}

function checkSpec(node: TestNodeSpec): void {
  checkNickname(node.nickname);
  checkTorrcPath('dataDir', node.dataDir);
  checkPort('controlPort', node.controlPort);
  if (node.role === 'client') {
    checkPort('socksPort', node.socksPort);
    if (node.orPort !== undefined || node.dirPort !== undefined) {
      throw new TorInvalidValueError('client node', 'a client has no ORPort or DirPort');
    }
  } else if (node.role === 'authority' || node.role === 'relay') {
    checkPort('orPort', node.orPort);
    checkPort('dirPort', node.dirPort);
    if (node.socksPort !== undefined) throw new TorInvalidValueError(`${node.role} node`, 'only the client has a SocksPort');
    if (node.startOffline) throw new TorInvalidValueError(`${node.role} node`, 'only the client can start offline');
  } else {
    throw new TorInvalidValueError('role', 'must be authority, relay or client');
  }
}

/**
 * The minimal torrc used once per relaying node with `tor --list-fingerprint` to create its keys.
 * It cannot carry the final settings: `TestingTorNetwork 1` is refused until `DirAuthority` lines
 * exist, and those lines need the fingerprints this run produces. `DisableNetwork 1` keeps it
 * offline; it binds nothing and contacts nothing.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a client (clients need no relay keys) or bad fields
 */
export function buildKeygenTorrc(node: TestNodeSpec): string {
  checkSpec(node);
  if (node.role === 'client') throw new TorInvalidValueError('role', 'a client has no relay keys to generate');
  const text = [
    `# torcon test network: key generation for ${node.nickname} (offline)`,
    'DisableNetwork 1',
    'SocksPort 0',
    'ControlPort 0',
    `DataDirectory ${node.dataDir}`,
    `Nickname ${node.nickname}`,
    // server mode is what makes --list-fingerprint create relay keys; the port is never bound
    `ORPort ${LOOPBACK}:${node.orPort}`,
    '',
  ].join('\n');
  assertTorrcSafe(text, 'keygen');
  return text;
}

/**
 * The full torrc of one node of the private network.
 * @param node - the node (authority, relay or client)
 * @param ctx - the authorities, owner pid and loopback resolv.conf
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a bad field or an unsafe result
 */
export function buildNodeTorrc(node: TestNodeSpec, ctx: NetworkTorrcContext): string {
  checkSpec(node);
  if (ctx.authorities.length === 0) throw new TorInvalidValueError('authorities', 'at least one authority is needed');
  if (!Number.isInteger(ctx.ownerPid) || ctx.ownerPid < 1) throw new TorInvalidValueError('ownerPid', 'must be a positive integer');
  checkTorrcPath('resolvConfFile', ctx.resolvConfFile);

  const lines: string[] = [
    `# torcon private test network: ${node.nickname} (${node.role}). Loopback only.`,
    'TestingTorNetwork 1',
    `DataDirectory ${node.dataDir}`,
    `Nickname ${node.nickname}`,
    `Address ${LOOPBACK}`,
    // Setting any DirAuthority replaces the public authorities; no fallback dirs either.
    'UseDefaultFallbackDirs 0',
    ...ctx.authorities.map(dirAuthorityLine),
    `__OwningControllerProcess ${ctx.ownerPid}`,
    `ControlPort ${LOOPBACK}:${node.controlPort}`,
    'CookieAuthentication 1',
    node.role === 'client'
      ? `SocksPort ${LOOPBACK}:${node.socksPort} ExtendedErrors IsolateSOCKSAuth`
      : 'SocksPort 0',
    `Log notice file ${node.dataDir}/notice.log`,
    // stdout feeds the launcher's live tail (bootstrap progress, failure reports)
    'Log notice stdout',
    'SafeLogging 0',
    'ProtocolWarnings 1',
    'ShutdownWaitLength 0',
    'Sandbox 0',
    // small-network tuning
    'PathsNeededToBuildCircuits 0.67',
    // On loopback a circuit is built in milliseconds, and tor would learn its build timeout from
    // that; on a loaded machine circuits then miss it and FAIL with TIMEOUT (seen in CI: a circuit
    // through three named relays). Not learning leaves tor's fixed CircuitBuildTimeout, 60 s.
    'LearnCircuitBuildTimeout 0',
    'TestingDirAuthVoteExit *',
    'TestingDirAuthVoteHSDir *',
    'TestingDirAuthVoteGuard *',
    'TestingMinExitFlagThreshold 0',
    'V3AuthNIntervalsValid 2',
    // Exits reach only loopback; never "accept *:*".
    'ExitRelay 1',
    'ExitPolicyRejectPrivate 0',
    `ExitPolicy accept 127.0.0.0/8:*`,
    'ExitPolicy reject *:*',
    `ServerDNSResolvConfFile ${ctx.resolvConfFile}`,
    'ServerDNSDetectHijacking 0',
    // one empty line: no test lookups of public names
    'ServerDNSTestAddresses',
  ];

  if (node.role === 'authority' || node.role === 'relay') {
    lines.push(
      `ORPort ${LOOPBACK}:${node.orPort}`,
      `DirPort ${LOOPBACK}:${node.dirPort}`,
      // skips reachability self-tests that would otherwise delay publication by many minutes
      'AssumeReachable 1',
      'ContactInfo torcon private test network',
    );
  }
  if (node.role === 'authority') {
    lines.push(
      'AuthoritativeDirectory 1',
      'V3AuthoritativeDirectory 1',
      'TestingV3AuthInitialVotingInterval 5',
      'TestingV3AuthInitialVoteDelay 2',
      'TestingV3AuthInitialDistDelay 2',
      'V3AuthVotingInterval 10',
      'V3AuthVoteDelay 2',
      'V3AuthDistDelay 2',
      // On a loaded machine a relay may publish with bandwidth 0, or start a second after the
      // others: tor then withholds Fast (below the lowest-bandwidth cut) or Stable (uptime under
      // the median) for many minutes. Guarantees of zero make every relay Fast and Stable.
      'AuthDirFastGuarantee 1 bytes',
      'AuthDirVoteStableGuaranteeMinUptime 0',
      'AuthDirVoteStableGuaranteeMTBF 0',
    );
  }
  if (node.role === 'client') {
    // An exit accepting only 127.0.0.0/8 has no port summary in its microdescriptor, so a
    // microdescriptor client would see no exits at all; full descriptors show the real policy.
    lines.push('UseMicrodescriptors 0');
    if (node.startOffline) lines.push('DisableNetwork 1');
  }
  lines.push('');
  const text = lines.join('\n');
  assertTorrcSafe(text, 'node');
  return text;
}

const EXIT_POLICY_LINES = new Set(['ExitPolicy accept 127.0.0.0/8:*', 'ExitPolicy reject *:*']);

/** Options whose value may carry a host address, and so must name 127.0.0.1 only. */
const ADDRESS_OPTIONS = /^(Address|ORPort|DirPort|ControlPort|SocksPort|DirAuthority|FallbackDir|Bridge|OutboundBindAddress\w*|\w*ListenAddress|\w*Port)$/i;

/**
 * Re-checks a generated torrc against the safety rules before a node is started with it: a
 * `keygen` torrc must have `DisableNetwork 1`; a `node` torrc must have every line that keeps the
 * node on the loopback network. Any IPv4/IPv6 literal other than 127.0.0.1 (outside the exit
 * policy's `127.0.0.0/8`) is refused.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`, field `torrc`) naming the first broken rule
 */
export function assertTorrcSafe(torrc: string, kind: 'keygen' | 'node'): void {
  const lines = torrc.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const fail = (why: string): never => {
    throw new TorInvalidValueError('torrc', why);
  };
  const has = (line: string) => lines.includes(line);
  const byKey = (key: string) => lines.filter((l) => l.split(/\s+/, 1)[0]!.toLowerCase() === key.toLowerCase());

  for (const line of lines) {
    const key = line.split(/\s+/, 1)[0]!;
    if (/^(ExitPolicy|ReducedExitPolicy|IPv6Exit|ExitPolicy6)$/i.test(key) && !EXIT_POLICY_LINES.has(line)) {
      fail(`only "${[...EXIT_POLICY_LINES].join('" and "')}" are allowed: "${line}"`);
    }
    const rest = key === 'ExitPolicy' ? line.replace('127.0.0.0/8', '') : line;
    for (const ip of rest.match(/\b\d{1,3}(?:\.\d{1,3}){3}\b/g) ?? []) {
      if (ip !== LOOPBACK) fail(`address other than ${LOOPBACK}: "${line}"`);
    }
    if (/\[|::/.test(rest)) fail(`IPv6 address in "${line}"`);
    if (ADDRESS_OPTIONS.test(key)) {
      const value = line.slice(key.length).trim();
      if (key === 'SocksPort' || key === 'ControlPort') {
        if (value !== '0' && !value.startsWith(`${LOOPBACK}:`)) fail(`${key} must be 0 or on ${LOOPBACK}: "${line}"`);
      } else if (key === 'ORPort' || key === 'DirPort') {
        if (!value.startsWith(`${LOOPBACK}:`)) fail(`${key} must be on ${LOOPBACK}: "${line}"`);
      } else if (key === 'Address') {
        if (value !== LOOPBACK) fail(`Address must be ${LOOPBACK}`);
      } else if (key === 'DirAuthority') {
        if (!new RegExp(` ${LOOPBACK.replace(/\./g, '\\.')}:\\d+ [0-9A-F]{40}$`).test(value)) fail(`DirAuthority must name ${LOOPBACK}: "${line}"`);
      } else {
        fail(`option ${key} is not allowed in a test network torrc`);
      }
    }
  }

  if (kind === 'keygen') {
    if (!has('DisableNetwork 1')) fail('a key generation torrc must have DisableNetwork 1');
    if (byKey('TestingTorNetwork').length) fail('a key generation torrc must not set TestingTorNetwork');
    return;
  }

  const required = [
    'TestingTorNetwork 1',
    'UseDefaultFallbackDirs 0',
    `Address ${LOOPBACK}`,
    'CookieAuthentication 1',
    'ShutdownWaitLength 0',
    'Sandbox 0',
    'SafeLogging 0',
    'ExitRelay 1',
    'ExitPolicyRejectPrivate 0',
    'ExitPolicy accept 127.0.0.0/8:*',
    'ExitPolicy reject *:*',
    'ServerDNSDetectHijacking 0',
    'ServerDNSTestAddresses',
  ];
  for (const r of required) if (!has(r)) fail(`missing "${r}"`);
  if (byKey('DisableNetwork').some((l) => l !== 'DisableNetwork 0' && l !== 'DisableNetwork 1')) fail('bad DisableNetwork line');
  if (byKey('DirAuthority').length === 0) fail('no DirAuthority line');
  if (byKey('UseDefaultFallbackDirs').length !== 1) fail('UseDefaultFallbackDirs must appear once');
  if (!byKey('__OwningControllerProcess').some((l) => /^__OwningControllerProcess \d+$/.test(l))) fail('missing __OwningControllerProcess');
  if (byKey('ControlPort').length !== 1 || byKey('ControlPort')[0] === 'ControlPort 0') fail('exactly one ControlPort on 127.0.0.1 is needed');
  if (byKey('SocksPort').length !== 1) fail('exactly one SocksPort line is needed');
  if (!byKey('ServerDNSResolvConfFile').length) fail('missing ServerDNSResolvConfFile');
  if (!byKey('Log').some((l) => /^Log notice file \//.test(l))) fail('missing "Log notice file"');
  const exitPolicies = byKey('ExitPolicy');
  if (exitPolicies[exitPolicies.length - 1] !== 'ExitPolicy reject *:*') fail('the last ExitPolicy must be "reject *:*"');
  const client = byKey('SocksPort')[0] !== 'SocksPort 0';
  if (client && !has('UseMicrodescriptors 0')) fail('the client needs UseMicrodescriptors 0');
}
