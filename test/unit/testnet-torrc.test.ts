import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import {
  TorAuthError,
  TorControlClosedError,
  TorControlError,
  TorInvalidValueError,
  TorLaunchError,
  TorProtocolError,
} from '../../src/errors.js';
import { identifyProcess } from '../../src/process/process-identity.js';
import { LiteControl } from '../../src/process/testnet/control-lite.js';
import { startLoopbackNetwork } from '../../src/process/testnet/test-network.js';
import { allocatePorts } from '../../src/process/testnet/ports.js';
import { readTestNetworkState, stopTestNetworkByDir } from '../../src/process/testnet/state-file.js';
import { parseCertificateFingerprint, parseListFingerprint } from '../../src/process/testnet/keys.js';
import { authoritiesOf, buildNetworkTorrcs, planNetwork, portsNeeded, type NetworkPlan } from '../../src/process/testnet/network-plan.js';
import { consensusProgress, parseBootstrapLine, parseConsensusRelays } from '../../src/process/testnet/readiness.js';
import {
  assertTorrcSafe,
  buildKeygenTorrc,
  buildNodeTorrc,
  dirAuthorityLine,
  LOOPBACK_RESOLV_CONF,
  type NetworkTorrcContext,
} from '../../src/process/testnet/torrc-builder.js';

// ---------------------------------------------------------------------------------------------
// Independent safety checks. They deliberately do not reuse assertTorrcSafe: the launcher's own
// check could share a bug with the builder.

const hex40 = (seed: number) => ((seed * 2654435761) >>> 0).toString(16).toUpperCase().padStart(8, '0').repeat(5);

function optionLines(torrc: string): string[] {
  return torrc.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

function values(torrc: string, key: string): string[] {
  return optionLines(torrc)
    .filter((l) => l.split(/\s+/, 1)[0] === key)
    .map((l) => l.slice(key.length).trim());
}

/** Every IPv4 literal in the torrc is 127.0.0.1, except the 127.0.0.0/8 of the exit policy; no IPv6. */
function assertLoopbackOnly(torrc: string): void {
  for (const line of optionLines(torrc)) {
    const withoutExitNet = line === 'ExitPolicy accept 127.0.0.0/8:*' ? 'ExitPolicy accept' : line;
    for (const ip of withoutExitNet.match(/\d+\.\d+\.\d+\.\d+/g) ?? []) {
      assert.equal(ip, '127.0.0.1', `non-loopback address in "${line}"`);
    }
    assert.ok(!/\[|::/.test(line), `IPv6 literal in "${line}"`);
  }
  for (const key of ['ORPort', 'DirPort', 'ControlPort']) {
    for (const v of values(torrc, key)) assert.match(v, /^(0|127\.0\.0\.1:\d+)$/, `${key} ${v}`);
  }
  for (const v of values(torrc, 'SocksPort')) assert.match(v, /^(0|127\.0\.0\.1:\d+( \w+)*)$/, `SocksPort ${v}`);
  for (const key of ['FallbackDir', 'Bridge', 'OutboundBindAddress', 'ORListenAddress', 'DirListenAddress', 'SocksListenAddress']) {
    assert.deepEqual(values(torrc, key), [], `${key} must not appear`);
  }
}

/** The lines every node torrc must carry, in the exact spelling tor expects. */
function assertNodeSafety(torrc: string, role: 'authority' | 'relay' | 'client', ownerPid: number): void {
  const lines = optionLines(torrc);
  const must = [
    'TestingTorNetwork 1',
    'UseDefaultFallbackDirs 0',
    'Address 127.0.0.1',
    'CookieAuthentication 1',
    'ShutdownWaitLength 0',
    'Sandbox 0',
    'SafeLogging 0',
    'ExitRelay 1',
    'ExitPolicyRejectPrivate 0',
    'ExitPolicy accept 127.0.0.0/8:*',
    'ExitPolicy reject *:*',
    'ServerDNSDetectHijacking 0',
    `__OwningControllerProcess ${ownerPid}`,
  ];
  for (const m of must) assert.ok(lines.includes(m), `${role} torrc lacks "${m}"`);
  // one empty ServerDNSTestAddresses line: the key alone
  assert.deepEqual(lines.filter((l) => l.startsWith('ServerDNSTestAddresses')), ['ServerDNSTestAddresses']);
  assert.deepEqual(values(torrc, 'ServerDNSResolvConfFile'), ['/net/resolv.conf']);
  assert.deepEqual(values(torrc, 'ExitPolicy'), ['accept 127.0.0.0/8:*', 'reject *:*'], 'exit policy, in this order');
  assert.ok(!lines.some((l) => /accept\s+\*/.test(l)), 'never accept *');
  assert.equal(values(torrc, 'ControlPort').length, 1);
  assert.match(values(torrc, 'ControlPort')[0]!, /^127\.0\.0\.1:\d+$/);
  assert.ok(values(torrc, 'Log').some((v) => /^notice file \/\S+$/.test(v)), 'Log notice file ...');
  const dirAuths = values(torrc, 'DirAuthority');
  assert.ok(dirAuths.length >= 1);
  for (const d of dirAuths) {
    assert.match(d, /^\w+ orport=\d+ no-v2 v3ident=[0-9A-F]{40} 127\.0\.0\.1:\d+ [0-9A-F]{40}$/, `DirAuthority ${d}`);
  }
  assert.deepEqual(values(torrc, 'DisableNetwork').filter((v) => v !== '1'), [], 'DisableNetwork may only turn the network off');
  if (role === 'client') {
    assert.match(values(torrc, 'SocksPort').join(), /^127\.0\.0\.1:\d+ ExtendedErrors IsolateSOCKSAuth$/);
    assert.ok(lines.includes('UseMicrodescriptors 0'), 'client needs UseMicrodescriptors 0');
    assert.deepEqual(values(torrc, 'ORPort'), []);
    assert.deepEqual(values(torrc, 'DirPort'), []);
  } else {
    assert.deepEqual(values(torrc, 'SocksPort'), ['0'], 'relays must not bind the default 9050');
    assert.equal(values(torrc, 'ORPort').length, 1);
    assert.equal(values(torrc, 'DirPort').length, 1);
    assert.ok(lines.includes('AssumeReachable 1'));
  }
  if (role === 'authority') {
    for (const m of [
      'AuthoritativeDirectory 1',
      'V3AuthoritativeDirectory 1',
      'TestingV3AuthInitialVotingInterval 5',
      'V3AuthVotingInterval 10',
      'AuthDirFastGuarantee 1 bytes',
      'AuthDirVoteStableGuaranteeMinUptime 0',
      'AuthDirVoteStableGuaranteeMTBF 0',
    ]) {
      assert.ok(lines.includes(m), `authority lacks ${m}`);
    }
  } else {
    assert.ok(!lines.some((l) => l.startsWith('AuthoritativeDirectory') || l.startsWith('V3AuthoritativeDirectory')));
  }
  assertLoopbackOnly(torrc);
}

function assertKeygenSafety(torrc: string): void {
  const lines = optionLines(torrc);
  assert.ok(lines.includes('DisableNetwork 1'), 'key generation torrc must have DisableNetwork 1');
  assert.ok(lines.includes('SocksPort 0'));
  assert.ok(!lines.some((l) => l.startsWith('DirAuthority') || l.startsWith('TestingTorNetwork')));
  assertLoopbackOnly(torrc);
}

// ---------------------------------------------------------------------------------------------

function fakePlan(relays: number, authorities: number, firstPort = 20000): { plan: NetworkPlan; ctx: NetworkTorrcContext } {
  const ports = Array.from({ length: portsNeeded(relays) }, (_, i) => firstPort + i);
  const plan = planNetwork({ relays, authorities, dir: '/net', ports });
  const keys = plan.relays.map((s, i) => ({
    fingerprint: hex40(i + 1),
    ...(s.role === 'authority' ? { v3Ident: hex40(i + 101) } : {}),
  }));
  return { plan, ctx: { authorities: authoritiesOf(plan, keys), ownerPid: 4242, resolvConfFile: '/net/resolv.conf' } };
}

describe('testnet torrc generation', () => {
  const shapes: Array<[number, number]> = [
    [4, 4],
    [6, 4],
    [5, 1],
    [8, 3],
  ];

  for (const [relays, authorities] of shapes) {
    it(`every torrc of a ${relays}-relay network (${authorities} authorities) is safe`, () => {
      const { plan, ctx } = fakePlan(relays, authorities);
      const torrcs = buildNetworkTorrcs(plan, ctx);
      assert.equal(torrcs.length, relays + 1);
      for (const t of torrcs) {
        assertNodeSafety(t.text, t.spec.role, 4242);
        assert.equal(t.path, `${t.spec.dataDir}/torrc`);
        // every node lists every authority, the same lines
        assert.equal(values(t.text, 'DirAuthority').length, authorities);
        assert.doesNotThrow(() => assertTorrcSafe(t.text, 'node'));
      }
      assert.deepEqual(
        torrcs.map((t) => t.spec.role),
        [...Array(authorities).fill('authority'), ...Array(relays - authorities).fill('relay'), 'client'],
      );
      for (const spec of plan.relays) {
        const k = buildKeygenTorrc(spec);
        assertKeygenSafety(k);
        assert.ok(optionLines(k).includes(`DataDirectory ${spec.dataDir}`));
        assert.ok(optionLines(k).includes(`Nickname ${spec.nickname}`));
      }
      // all ports distinct
      const ports = torrcs.flatMap((t) => [t.spec.orPort, t.spec.dirPort, t.spec.controlPort, t.spec.socksPort].filter((p) => p !== undefined));
      assert.equal(new Set(ports).size, ports.length);
    });
  }

  it('the client starts offline (DisableNetwork 1) and can be built online too', () => {
    const { plan, ctx } = fakePlan(4, 4);
    assert.ok(optionLines(buildNodeTorrc(plan.client, ctx)).includes('DisableNetwork 1'));
    const online = buildNodeTorrc({ ...plan.client, startOffline: false }, ctx);
    assert.ok(!online.includes('DisableNetwork'));
    assertNodeSafety(online, 'client', 4242);
  });

  it('property: any ports, nicknames and owner pid give a safe torrc for every role', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1024, max: 65535 - 40 }),
        fc.integer({ min: 4, max: 10 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 2, max: 4_000_000 }),
        (base, relays, auths, pid) => {
          const { plan, ctx } = fakePlan(relays, Math.min(auths, relays), base);
          const c = { ...ctx, ownerPid: pid };
          for (const t of buildNetworkTorrcs(plan, c)) assertNodeSafety(t.text, t.spec.role, pid);
          for (const s of plan.relays) assertKeygenSafety(buildKeygenTorrc(s));
        },
      ),
      { numRuns: 50 },
    );
  });

  it('DirAuthority line format', () => {
    assert.equal(
      dirAuthorityLine({ nickname: 'auth0', orPort: 5000, dirPort: 5001, v3Ident: 'A'.repeat(40), fingerprint: 'B'.repeat(40) }),
      `DirAuthority auth0 orport=5000 no-v2 v3ident=${'A'.repeat(40)} 127.0.0.1:5001 ${'B'.repeat(40)}`,
    );
  });

  it('the resolv.conf names only a loopback nameserver', () => {
    assert.equal(LOOPBACK_RESOLV_CONF.trim(), 'nameserver 127.0.0.1');
  });

  describe('refuses bad input with TorInvalidValueError', () => {
    const { plan, ctx } = fakePlan(4, 4);
    const relay = plan.relays[0]!;
    const cases: Array<[string, () => unknown]> = [
      ['a nickname with a space', () => buildNodeTorrc({ ...relay, nickname: 'a b' }, ctx)],
      ['a nickname of 20 characters', () => buildNodeTorrc({ ...relay, nickname: 'a'.repeat(20) }, ctx)],
      ['a relative data dir', () => buildNodeTorrc({ ...relay, dataDir: 'net/auth0' }, ctx)],
      ['a data dir with a space', () => buildNodeTorrc({ ...relay, dataDir: '/tmp/my net' }, ctx)],
      ['a data dir with #', () => buildNodeTorrc({ ...relay, dataDir: '/tmp/a#b' }, ctx)],
      ['a data dir with a newline', () => buildNodeTorrc({ ...relay, dataDir: '/tmp/a\nExitPolicy accept *:*' }, ctx)],
      ['port 0', () => buildNodeTorrc({ ...relay, orPort: 0 }, ctx)],
      ['port 70000', () => buildNodeTorrc({ ...relay, dirPort: 70000 }, ctx)],
      ['a relay with a SocksPort', () => buildNodeTorrc({ ...relay, socksPort: 9050 }, ctx)],
      ['a client with an ORPort', () => buildNodeTorrc({ ...plan.client, orPort: 9001 }, ctx)],
      ['no authorities', () => buildNodeTorrc(relay, { ...ctx, authorities: [] })],
      ['a bad fingerprint', () => buildNodeTorrc(relay, { ...ctx, authorities: [{ ...ctx.authorities[0]!, fingerprint: 'xyz' }] })],
      ['keygen for the client', () => buildKeygenTorrc(plan.client)],
      ['a relative resolv.conf', () => buildNodeTorrc(relay, { ...ctx, resolvConfFile: 'resolv.conf' })],
    ];
    for (const [name, fn] of cases) {
      it(name, () => assert.throws(fn, TorInvalidValueError));
    }
  });

  describe('assertTorrcSafe rejects unsafe variations', () => {
    const { plan, ctx } = fakePlan(4, 4);
    const good = buildNodeTorrc(plan.relays[0]!, ctx);
    const client = buildNodeTorrc(plan.client, ctx);

    const required = optionLines(good).filter((l) =>
      /^(TestingTorNetwork|UseDefaultFallbackDirs|Address|CookieAuthentication|ShutdownWaitLength|Sandbox|SafeLogging|ExitRelay|ExitPolicyRejectPrivate|ServerDNSDetectHijacking|ServerDNSTestAddresses|ServerDNSResolvConfFile|__OwningControllerProcess|ControlPort|SocksPort|DirAuthority|Log notice file)/.test(l),
    );
    for (const line of required) {
      it(`without "${line.slice(0, 50)}"`, () => {
        const broken = good.split('\n').filter((l) => l.trim() !== line && !(line.startsWith('DirAuthority') && l.startsWith('DirAuthority'))).join('\n');
        assert.throws(() => assertTorrcSafe(broken, 'node'), TorInvalidValueError);
      });
    }
    const additions = [
      'ExitPolicy accept *:*',
      'ExitPolicy accept 10.0.0.0/8:*',
      'ORPort 9001',
      'ORPort 0.0.0.0:9001',
      'DirPort 192.0.2.1:80',
      'SocksPort 9050',
      'FallbackDir 192.0.2.7:80 orport=9001 id=' + 'A'.repeat(40),
      'DirAuthority evil orport=9001 no-v2 v3ident=' + 'A'.repeat(40) + ' 192.0.2.1:80 ' + 'B'.repeat(40),
      'OutboundBindAddress 192.0.2.5',
      'ControlPort [::1]:9051',
      'TransPort 127.0.0.1:9040',
    ];
    for (const extra of additions) {
      it(`with "${extra.slice(0, 50)}"`, () => {
        assert.throws(() => assertTorrcSafe(good + extra + '\n', 'node'), TorInvalidValueError);
      });
    }
    it('a client without UseMicrodescriptors 0', () => {
      assert.throws(() => assertTorrcSafe(client.replace('UseMicrodescriptors 0\n', ''), 'node'), TorInvalidValueError);
    });
    it('"ExitPolicy reject *:*" before the accept line', () => {
      const swapped = good.replace('ExitPolicy accept 127.0.0.0/8:*\nExitPolicy reject *:*', 'ExitPolicy reject *:*\nExitPolicy accept 127.0.0.0/8:*');
      assert.notEqual(swapped, good);
      assert.throws(() => assertTorrcSafe(swapped, 'node'), TorInvalidValueError);
    });
    it('a keygen torrc without DisableNetwork 1', () => {
      const k = buildKeygenTorrc(plan.relays[0]!);
      assert.throws(() => assertTorrcSafe(k.replace('DisableNetwork 1\n', ''), 'keygen'), TorInvalidValueError);
    });
  });
});

describe('testnet parsers', () => {
  it('parses tor --list-fingerprint output (last line wins)', () => {
    const out = [
      "Nov 25 15:28:41.824 [notice] Your Tor server's identity key fingerprint is 'auth0 252523AD47CB45CDA4213D9ADDDE80C27D890DB9'",
      'auth0 2525 23AD 47CB 45CD A421 3D9A DDDE 80C2 7D89 0DB9',
      '',
    ].join('\n');
    assert.equal(parseListFingerprint(out, 'auth0'), '252523AD47CB45CDA4213D9ADDDE80C27D890DB9');
    assert.throws(() => parseListFingerprint(out, 'auth1'), TorInvalidValueError);
    assert.throws(() => parseListFingerprint('auth0 2525 23AD', 'auth0'), TorInvalidValueError);
  });

  it('parses the fingerprint of an authority certificate', () => {
    const cert = 'dir-key-certificate-version 3\ndir-address 127.0.0.1:23457\nfingerprint F4A04A7528E39D3C37C7CB64FCF164C4826BC522\n';
    assert.equal(parseCertificateFingerprint(cert), 'F4A04A7528E39D3C37C7CB64FCF164C4826BC522');
    assert.throws(() => parseCertificateFingerprint('dir-key-certificate-version 3\n'), TorInvalidValueError);
  });

  it('parses bootstrap notices and ignores other lines', () => {
    assert.deepEqual(parseBootstrapLine('Nov 25 15:33:21.000 [notice] Bootstrapped 0% (starting): Starting'), {
      percent: 0,
      tag: 'starting',
      summary: 'Starting',
    });
    assert.deepEqual(parseBootstrapLine('Nov 25 15:33:23.000 [notice] Bootstrapped 100% (done): Done'), { percent: 100, tag: 'done', summary: 'Done' });
    assert.equal(parseBootstrapLine('Nov 25 15:33:23.000 [notice] Opening Socks listener on 127.0.0.1:1'), undefined);
    assert.equal(parseBootstrapLine('Nov 25 [notice] Bootstrapped 140% (x): y'), undefined);
    assert.equal(parseBootstrapLine('Nov 25 [warn] Bootstrapped 10% (x): y'), undefined);
  });

  const fpA = '252523AD47CB45CDA4213D9ADDDE80C27D890DB9';
  const fpB = 'F4A04A7528E39D3C37C7CB64FCF164C4826BC522';
  const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64').replace(/=+$/, '');
  const consensus = [
    'network-status-version 3',
    'vote-status consensus',
    `r auth0 ${b64(fpA)} ${b64(fpB)} 2026-11-25 15:33:12 127.0.0.1 20000 20001`,
    's Exit Fast Guard HSDir Running Stable V2Dir Valid',
    'v Tor 0.4.9.11',
    `r auth1 ${b64(fpB)} ${b64(fpA)} 2026-11-25 15:33:12 127.0.0.1 20003 20004`,
    's Fast Running Valid',
    'directory-footer',
    `r ignored ${b64(fpA)} x`,
    's Exit',
  ].join('\n');

  it('parses r and s lines of a consensus', () => {
    assert.deepEqual(parseConsensusRelays(consensus), [
      { nickname: 'auth0', fingerprint: fpA, flags: ['Exit', 'Fast', 'Guard', 'HSDir', 'Running', 'Stable', 'V2Dir', 'Valid'] },
      { nickname: 'auth1', fingerprint: fpB, flags: ['Fast', 'Running', 'Valid'] },
    ]);
    assert.deepEqual(parseConsensusRelays('r bad notbase64 x\ns Exit\n'), []);
  });

  it('measures consensus progress: absent relays and missing flags', () => {
    const relays = parseConsensusRelays(consensus);
    const fpC = 'A'.repeat(40);
    const p = consensusProgress(relays, [fpA, fpB, fpC]);
    assert.equal(p.complete, 1);
    assert.equal(p.expected, 3);
    assert.deepEqual(p.missing, [
      { fingerprint: fpB, lacks: ['Exit', 'Guard', 'HSDir', 'Stable'] },
      { fingerprint: fpC, lacks: 'absent' },
    ]);
    assert.deepEqual(consensusProgress(relays, [fpA]).missing, []);
  });
});

describe('testnet helpers without tor', () => {
  it('allocatePorts: distinct free loopback ports, reserved in-process until released', async () => {
    const a = await allocatePorts(6);
    const b = await allocatePorts(6);
    assert.equal(new Set([...a.ports, ...b.ports]).size, 12);
    for (const p of a.ports) assert.ok(p >= 1024 && p < 65536);
    a.release();
    b.release();
  });

  it('allocatePorts: a busy port inside portBase is a TorLaunchError; bad counts are TorInvalidValueError', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const busy = (server.address() as net.AddressInfo).port;
    try {
      await assert.rejects(allocatePorts(1, { portBase: busy }), TorLaunchError);
    } finally {
      server.close();
    }
    await assert.rejects(allocatePorts(0), TorInvalidValueError);
    await assert.rejects(allocatePorts(3, { portBase: 65534 }), TorInvalidValueError);
  });

  it('readTestNetworkState: missing or malformed network.json is a TorInvalidValueError', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-unit-state-'));
    try {
      await assert.rejects(readTestNetworkState(dir), TorInvalidValueError);
      await writeFile(path.join(dir, 'network.json'), '{"version":1,');
      await assert.rejects(readTestNetworkState(dir), TorInvalidValueError);
      await writeFile(path.join(dir, 'network.json'), JSON.stringify({ version: 1, ownerPid: 1, nodes: [{ nickname: 'a', torrcPath: '/x', pid: -3 }] }));
      await assert.rejects(readTestNetworkState(dir), TorInvalidValueError);
      // a well-formed state whose pid is not a tor of that torrc is reported as not alive
      await writeFile(
        path.join(dir, 'network.json'),
        JSON.stringify({ version: 1, status: 'ready', ownerPid: process.pid, baseDir: dir, keep: false, startedAt: '', nodes: [{ nickname: 'a', role: 'relay', torrcPath: '/nonexistent/torrc', dataDir: dir, controlPort: 1, pid: process.pid }] }),
      );
      const st = await readTestNetworkState(dir);
      assert.equal(st.running, false);
      assert.equal(st.nodes[0]!.alive, false);
      // and stopping it signals nothing (our own pid is not one of its nodes) but removes the dir
      assert.deepEqual(await stopTestNetworkByDir(dir), { stopped: 0 });
      assert.equal(existsSync(dir), false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('readTestNetworkState refuses a network.json lacking what `testnet status` prints, or with escape sequences in it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-unit-state-'));
    try {
      const node = { nickname: 'auth0', role: 'authority', torrcPath: '/nonexistent/torrc', dataDir: dir, controlPort: 1, orPort: 2, dirPort: 3 };
      const good = { version: 1, status: 'ready', ownerPid: process.pid, baseDir: dir, keep: false, startedAt: '', controlEndpoint: 'tcp:127.0.0.1:4', socksPort: 5, nodes: [node] };
      await writeFile(path.join(dir, 'network.json'), JSON.stringify(good));
      assert.equal((await readTestNetworkState(dir)).nodes.length, 1, 'the good one reads');
      const { role: _role, ...noRole } = node;
      const { controlPort: _port, ...noControlPort } = node;
      const { baseDir: _dir, ...noBaseDir } = good;
      const bad: Array<[string, unknown]> = [
        ['a node without role', { ...good, nodes: [noRole] }],
        ['a node with another role', { ...good, nodes: [{ ...node, role: 'exit' }] }],
        ['a node without controlPort', { ...good, nodes: [noControlPort] }],
        ['a port that is no port', { ...good, nodes: [{ ...node, orPort: '9001' }] }],
        ['an escape sequence in a nickname', { ...good, nodes: [{ ...node, nickname: '\x1b[2Jauth0' }] }],
        ['no baseDir', noBaseDir],
        ['an escape sequence in controlEndpoint', { ...good, controlEndpoint: 'tcp:127.0.0.1:4\x1b[2J' }],
        ['an unknown status', { ...good, status: 'weird' }],
      ];
      for (const [what, state] of bad) {
        await writeFile(path.join(dir, 'network.json'), JSON.stringify(state));
        await assert.rejects(readTestNetworkState(dir), TorInvalidValueError, what);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('startLoopbackNetwork refuses a directory whose network is still starting (its owner lives, no node runs yet), and leaves it alone', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-unit-state-'));
    try {
      const starting = {
        version: 1,
        status: 'starting',
        ownerPid: process.pid,
        owner: await identifyProcess(process.pid),
        baseDir: dir,
        keep: true,
        startedAt: '',
        nodes: [{ nickname: 'auth0', role: 'authority', torrcPath: path.join(dir, 'auth0', 'torrc'), dataDir: path.join(dir, 'auth0'), controlPort: 1 }],
      };
      await writeFile(path.join(dir, 'network.json'), JSON.stringify(starting));
      const err = await startLoopbackNetwork({ baseDir: dir, torPath: '/nonexistent/tor', gencertPath: '/nonexistent/tor-gencert' }).catch((e: unknown) => e);
      assert.ok(err instanceof TorLaunchError && /already starting/.test(err.message), String(err));
      assert.equal((await readTestNetworkState(dir)).status, 'starting', 'its network.json is untouched');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('LiteControl against a scripted peer', () => {
    let server: net.Server;
    let port: number;
    let script: (line: string, sock: net.Socket) => void;
    let dir: string;
    let cookieFile: string;
    const cookie = Buffer.alloc(32, 7);

    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-unit-lite-'));
      cookieFile = path.join(dir, 'control_auth_cookie');
      await writeFile(cookieFile, cookie);
      server = net.createServer((sock) => {
        let buf = '';
        sock.on('data', (d) => {
          buf += d.toString();
          let i: number;
          while ((i = buf.indexOf('\r\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 2);
            script(line, sock);
          }
        });
        sock.on('error', () => undefined);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      port = (server.address() as net.AddressInfo).port;
    });
    after(async () => {
      server.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('sends the cookie in hex, then commands; skips events; reads multi-line and data replies', async () => {
      const seen: string[] = [];
      script = (line, sock) => {
        seen.push(line);
        if (line.startsWith('AUTHENTICATE')) sock.write('250 OK\r\n');
        else if (line === 'GETINFO x') sock.write('650 STATUS_CLIENT NOTICE X\r\n250+x=\r\na\r\n..b\r\n.\r\n250 OK\r\n');
        else sock.write('250-ServiceID=abc\r\n250 OK\r\n');
      };
      const ctl = await LiteControl.open(port, cookieFile);
      try {
        assert.deepEqual(await ctl.command('GETINFO x'), { status: 250, lines: ['x=', 'a', '.b', 'OK'] });
        assert.deepEqual(await ctl.command('ADD_ONION NEW:ED25519-V3 Port=80'), { status: 250, lines: ['ServiceID=abc', 'OK'] });
      } finally {
        ctl.close();
      }
      assert.equal(seen[0], `AUTHENTICATE ${cookie.toString('hex')}`);
    });

    it('a refused cookie is a TorAuthError; a 5xx reply a TorControlError naming only the keyword', async () => {
      script = (_line, sock) => sock.write('515 Authentication failed: bad cookie\r\n');
      await assert.rejects(LiteControl.open(port, cookieFile), TorAuthError);
      script = (line, sock) => sock.write(line.startsWith('AUTH') ? '250 OK\r\n' : '552 Unrecognized option\r\n');
      const ctl = await LiteControl.open(port, cookieFile);
      try {
        await assert.rejects(ctl.command('SETCONF Secret=hunter2'), (err: unknown) => {
          assert.ok(err instanceof TorControlError);
          assert.equal(err.status, 552);
          assert.ok(!err.message.includes('hunter2'));
          return true;
        });
        await assert.rejects(ctl.command('GETINFO a\r\nSIGNAL HALT'), TorInvalidValueError);
      } finally {
        ctl.close();
      }
    });

    it('garbage, or a reply nobody asked for, or a dropped connection: pending and later commands reject', async () => {
      script = (line, sock) => sock.write(line.startsWith('AUTH') ? '250 OK\r\n' : 'garbage\r\n');
      const ctl = await LiteControl.open(port, cookieFile);
      await assert.rejects(ctl.command('GETINFO version'), TorProtocolError);
      await assert.rejects(ctl.command('GETINFO version'), TorProtocolError);
      ctl.close();

      script = (line, sock) => {
        if (line.startsWith('AUTH')) {
          sock.write('250 OK\r\n');
          setTimeout(() => sock.write('250 OK\r\n'), 20);
        }
      };
      const ctl1 = await LiteControl.open(port, cookieFile);
      await new Promise((r) => setTimeout(r, 100));
      await assert.rejects(ctl1.command('GETINFO version'), TorProtocolError);
      ctl1.close();

      script = (line, sock) => (line.startsWith('AUTH') ? sock.write('250 OK\r\n') : sock.destroy());
      const ctl2 = await LiteControl.open(port, cookieFile);
      await assert.rejects(ctl2.command('GETINFO version'), TorControlClosedError);
    });
  });
});
