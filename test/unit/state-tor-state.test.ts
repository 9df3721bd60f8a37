import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { openTorControl } from '../../src/control/transport.js';
import type { TorControl } from '../../src/control/tor-control.js';
import {
  TorAbortError,
  TorCircuitError,
  TorControlClosedError,
  TorControlError,
  TorInvalidValueError,
  TorProtocolError,
  TorSocksError,
  TorTimeoutError,
} from '../../src/errors.js';
import { TorState, type Circuit, type Stream, type TorStateEvents, type TorStateOptions } from '../../src/state/tor-state.js';
import { streamlessCircuitRefusal } from '../../src/state/streamless-circuits.js';
import { Tor } from '../../src/tor/tor.js';
import { TorConfig } from '../../src/config/tor-config.js';
import type { Location } from '../../src/state/geoip-types.js';
import { waitUntil } from '../support/settle.js';
import { httpGetText } from '../support/http-get-text.js';
import { FakeControlServer, keyValueReply } from '../support/fake-control-server.js';
import { RECORDED_EVENTS, RECORDED_INFO, RECORDED_RELAYS } from './state-recorded-session.js';
import { REAL_DESC, REAL_MD } from './descriptor-texts.js';
import { Router } from '../../src/state/router.js';
import { startFakeSocksServer, type FakeSocksServer } from './socks-fake-server.js';

const FP = RECORDED_RELAYS as Record<'auth0' | 'auth1' | 'auth2' | 'auth3', string>;
const ln = (nick: keyof typeof FP) => `$${FP[nick]}~${nick}`;
const PATH3 = `${ln('auth0')},${ln('auth1')},${ln('auth2')}`;
const INITIAL_GETINFO = 'GETINFO ns/all circuit-status stream-status address-mappings/all entry-guards';
/** The initial state: the recorded consensus and guards, and one BUILT circuit 11. */
const BASE_INFO: Record<string, string> = {
  'ns/all': RECORDED_INFO['ns/all']!,
  'circuit-status': `11 BUILT ${PATH3} PURPOSE=GENERAL`,
  'stream-status': '',
  'address-mappings/all': '',
  'entry-guards': RECORDED_INFO['entry-guards']!,
};

interface Harness {
  fake: FakeControlServer;
  control: TorControl;
  state: TorState;
}

let harness: Harness | undefined;

async function setup(
  opts: { info?: Record<string, string>; state?: TorStateOptions; before?: (fake: FakeControlServer) => void } = {},
): Promise<Harness> {
  const fake = await FakeControlServer.start();
  fake.info({ ...BASE_INFO, ...opts.info });
  opts.before?.(fake);
  const { control } = await openTorControl(fake.endpoint);
  const state = await TorState.create(control, opts.state);
  harness = { fake, control, state };
  return harness;
}

/** Resolves once every event sent so far has been applied (tor answers in order). */
async function sync(h: Harness): Promise<void> {
  await h.control.getInfo('version');
}

function once<K extends keyof TorStateEvents>(state: TorState, name: K): Promise<TorStateEvents[K]> {
  return new Promise((resolve) => state.once(name as never, ((...args: TorStateEvents[K]) => resolve(args)) as never));
}

/** Command lines received after the setup (PROTOCOLINFO ... initial GETINFO) that match. */
function commandsMatching(fake: FakeControlServer, re: RegExp): string[] {
  return fake.commands.filter((c) => re.test(c));
}

describe('state and config: what is no TorControl is refused', () => {
  const notControls: unknown[] = [null, undefined, 9051, 'tcp:127.0.0.1:9051', {}, { control: {} }];

  it('new TorState, TorState.create and TorConfig.create give TOR_INVALID_VALUE, not a bare TypeError', async () => {
    for (const bad of notControls) {
      const label = JSON.stringify(bad) ?? String(bad);
      assert.throws(() => new TorState(bad as TorControl), (err: unknown) => err instanceof TorInvalidValueError && /TorState control/.test(err.message), label);
      await assert.rejects(TorState.create(bad as TorControl), TorInvalidValueError, label);
      await assert.rejects(TorConfig.create(bad as TorControl), (err: unknown) => err instanceof TorInvalidValueError && /TorConfig control/.test(err.message), label);
    }
  });

  it('says to pass tor.control when given a Tor handle', () => {
    const handle = new Tor({} as TorControl, { version: '0.4.9.1', controlEndpoint: 'tcp:127.0.0.1:9051' });
    assert.throws(() => new TorState(handle as unknown as TorControl), /a Tor handle\? pass tor\.control/);
  });
});

describe('state: TorState against a fake control port', () => {
  afterEach(async () => {
    const h = harness;
    harness = undefined;
    if (!h) return;
    await h.state.close();
    await h.control.close();
    await h.fake.close();
  });

  describe('building', () => {
    it('subscribes to its events first, then asks for everything in one GETINFO', async () => {
      const { fake, state } = await setup();
      const setevents = fake.commands.findIndex((c) => c.startsWith('SETEVENTS'));
      assert.equal(fake.commands[setevents], 'SETEVENTS ADDRMAP CIRC CIRC_MINOR GUARD NEWCONSENSUS NS STREAM');
      assert.equal(fake.commands[setevents + 1], INITIAL_GETINFO);
      assert.equal(commandsMatching(fake, /^SETEVENTS/).length, 1, 'one SETEVENTS for all six events');
      assert.equal(state.routers.size, 4);
      assert.equal(state.routers.get(FP.auth1)?.nickname, 'auth1');
      assert.equal(state.routerByName('AUTH2')?.fingerprint, FP.auth2, 'nicknames are case-insensitive');
      assert.equal(state.routerByName('nobody'), undefined);
      // Fingerprints and LongNames: the nickname part is held to the one nickname rule.
      assert.equal(state.routerByName(`$${FP.auth2}`)?.nickname, 'auth2');
      assert.equal(state.routerByName(`${FP.auth2.toLowerCase()}=auth2`)?.nickname, 'auth2');
      assert.equal(state.routerByName(`$${FP.auth2}~AUTH2`)?.nickname, 'auth2');
      for (const bad of [`$${FP.auth2}~auth 2`, `$${FP.auth2}~`, `$${FP.auth2}~auth2\n`, `$${FP.auth2}~${'a'.repeat(20)}`]) {
        assert.equal(state.routerByName(bad), undefined, JSON.stringify(bad));
      }
      assert.deepEqual(state.circuits.get('11')?.path.map((r) => r.nickname), ['auth0', 'auth1', 'auth2']);
      assert.deepEqual(
        state.entryGuards.map((r) => r.nickname),
        ['auth1', 'auth3', 'auth0', 'auth2'],
      );
      assert.equal(state.entryGuards[0], state.routers.get(FP.auth1));
      assert.deepEqual(state.guards.map((g) => g.status), ['up', 'up', 'never-connected', 'never-connected']);
    });

    it('applies the events that arrive while the GETINFO is answered, after the snapshot', async () => {
      const { state } = await setup({
        before: (fake) =>
          fake.handle(/^GETINFO ns\/all/, () => {
            // Sent before the reply: they happen "during" the GETINFO.
            fake.event('CIRC 50 LAUNCHED PURPOSE=GENERAL');
            fake.event(`CIRC 11 CLOSED ${PATH3} REASON=FINISHED`);
            fake.event('STREAM 9 NEW 0 example.com:443 SOURCE_ADDR=127.0.0.1:5555 PURPOSE=USER');
            return undefined;
          }),
      });
      assert.deepEqual([...state.circuits.keys()], ['50']);
      assert.equal(state.streams.get('9')?.target.host, 'example.com');
    });

    it('falls back to one GETINFO per key when tor refuses the batch', async () => {
      const { fake, state } = await setup({
        before: (f) => f.handle(/^GETINFO ns\/all circuit-status/, () => ['552 Unrecognized key "entry-guards"']),
        info: { 'entry-guards': undefined as unknown as string },
      });
      assert.ok(fake.commands.includes('GETINFO ns/all'));
      assert.ok(fake.commands.includes('GETINFO entry-guards'));
      assert.equal(state.routers.size, 4);
      assert.equal(state.circuits.size, 1);
      assert.equal(state.entryGuards.length, 0);
    });

    it('uses a consensus document when ns/all is unavailable (microdesc r lines)', async () => {
      const doc = [
        'network-status-version 3 microdesc',
        `r md1 ${Buffer.from(FP.auth0, 'hex').toString('base64').replace(/=+$/, '')} 2038-01-01 00:00:00 127.0.0.1 5000 0`,
        'm abc',
        's Fast Running Valid',
        'directory-footer',
      ].join('\n');
      const { state } = await setup({
        before: (f) => {
          f.handle(/^GETINFO ns\/all/, () => ['551 no consensus']);
          f.info({ 'dir/status-vote/current/consensus-microdesc': doc });
        },
      });
      assert.deepEqual([...state.routers.values()].map((r) => [r.nickname, r.fingerprint, r.orPort]), [['md1', FP.auth0, 5000]]);
    });

    it('rejects with TorAbortError for an aborted signal and TorTimeoutError when tor is silent', async () => {
      const fake = await FakeControlServer.start();
      fake.info(BASE_INFO);
      fake.handle(/^GETINFO ns\/all/, () => new Promise<undefined>(() => undefined));
      const { control } = await openTorControl(fake.endpoint);
      try {
        await assert.rejects(TorState.create(control, { signal: AbortSignal.abort() }), TorAbortError);
        await assert.rejects(TorState.create(control, { timeoutMs: 100 }), TorTimeoutError);
      } finally {
        control.destroy();
        await fake.close();
      }
    });
  });

  describe('lifecycle', () => {
    /** Subscribers TorControl holds, by event name (typed + raw). */
    function subscriptions(control: TorControl): Record<string, number> {
      const subs = (control as unknown as { subscribers: Map<string, { typed: Set<unknown>; raw: Set<unknown> }> }).subscribers;
      return Object.fromEntries([...subs].map(([name, set]) => [name, set.typed.size + set.raw.size]).filter(([, n]) => n !== 0));
    }

    it('a build that is aborted or times out while subscribing leaves no subscription and no listener behind', async () => {
      const fake = await FakeControlServer.start();
      fake.info(BASE_INFO);
      // tor acknowledges SETEVENTS late: the abort and the timeout land while the state subscribes.
      fake.handle(/^SETEVENTS/, () => new Promise<string[]>((resolve) => setTimeout(() => resolve(['250 OK']), 60)));
      const { control } = await openTorControl(fake.endpoint);
      try {
        const closeListeners = control.listenerCount('close');
        const ac = new AbortController();
        const aborted = TorState.create(control, { signal: ac.signal });
        setTimeout(() => ac.abort(), 10);
        await assert.rejects(aborted, TorAbortError);
        await assert.rejects(TorState.create(control, { timeoutMs: 10 }), TorTimeoutError);
        // The subscriptions land after the rejections: let them, and the undoing, finish.
        await new Promise((resolve) => setTimeout(resolve, 400));
        assert.deepEqual(subscriptions(control), {});
        assert.equal(control.listenerCount('close'), closeListeners);
      } finally {
        control.destroy();
        await fake.close();
      }
    });

    it('new TorState() follows nothing until start(), which builds it once however often it is called', async () => {
      const fake = await FakeControlServer.start();
      fake.info(BASE_INFO);
      const { control } = await openTorControl(fake.endpoint);
      const state = new TorState(control);
      try {
        assert.equal(state.circuits.size, 0);
        assert.equal(state.routers.size, 0);
        assert.equal(commandsMatching(fake, /^GETINFO ns\/all/).length, 0);
        // Bad options fail that call only; the next one builds.
        await assert.rejects(state.start({ timeoutMs: -1 }), TorInvalidValueError);
        await Promise.all([state.start(), state.start({ timeoutMs: 10_000 })]);
        await state.start();
        assert.equal(commandsMatching(fake, /^GETINFO ns\/all/).length, 1);
        assert.deepEqual([...state.circuits.keys()], ['11']);
        assert.equal(state.routers.size, Object.keys(FP).length);
        fake.event('CIRC 12 LAUNCHED PURPOSE=GENERAL');
        await sync({ fake, control, state });
        assert.deepEqual([...state.circuits.keys()], ['11', '12']);
      } finally {
        await state.close();
        control.destroy();
        await fake.close();
      }
    });

    it("a start() that joins a build under way is bounded by its own timeoutMs and signal, and the build goes on for the first", async () => {
      const fake = await FakeControlServer.start();
      fake.info(BASE_INFO);
      // tor holds the initial GETINFO until released: the build is under way meanwhile.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      fake.handle(/^GETINFO ns\/all/, async () => {
        await held;
        return undefined;
      });
      const { control } = await openTorControl(fake.endpoint);
      const state = new TorState(control);
      try {
        const first = state.start();
        await assert.rejects(state.start({ timeoutMs: 20 }), TorTimeoutError);
        const ac = new AbortController();
        const aborted = state.start({ signal: ac.signal });
        ac.abort();
        await assert.rejects(aborted, TorAbortError);
        // A bad option is refused on every call, not only the first.
        await assert.rejects(state.start({ timeoutMs: -1 }), TorInvalidValueError);
        release();
        await first;
        assert.deepEqual([...state.circuits.keys()], ['11']);
        assert.equal(commandsMatching(fake, /^GETINFO ns\/all/).length, 1);
      } finally {
        release();
        await state.close();
        control.destroy();
        await fake.close();
      }
    });

    it('an unstarted state refuses to build or pin (TOR_INVALID_VALUE, nothing sent) and waits for a start() under way', async () => {
      const fake = await FakeControlServer.start();
      fake.info(BASE_INFO);
      fake.handle(/^EXTENDCIRCUIT 0/, () => ['250 EXTENDED 12']);
      const { control } = await openTorControl(fake.endpoint);
      const state = new TorState(control);
      try {
        const notStarted = (e: unknown) => e instanceof TorInvalidValueError && /not started: call start\(\) first/.test(e.message);
        await assert.rejects(state.buildCircuit(), notStarted);
        await assert.rejects(state.connectVia('11', async () => 'opened'), notStarted);
        await assert.rejects(state.closeCircuit('11'), notStarted);
        await assert.rejects(state.closeStream('5'), notStarted);
        assert.deepEqual(commandsMatching(fake, /^(EXTENDCIRCUIT|CLOSECIRCUIT|CLOSESTREAM|SETCONF)/), []);
        // Asked while start() runs: it waits for the state to follow tor, then builds.
        const starting = state.start();
        const building = state.buildCircuit();
        await starting;
        fake.event('CIRC 12 LAUNCHED PURPOSE=GENERAL');
        fake.event(`CIRC 12 BUILT ${PATH3} PURPOSE=GENERAL`);
        assert.equal((await building).id, '12');
      } finally {
        await state.close();
        control.destroy();
        await fake.close();
      }
    });

    it('start() of a closed state rejects with TorControlClosedError and sends nothing', async () => {
      const fake = await FakeControlServer.start();
      fake.info(BASE_INFO);
      const { control } = await openTorControl(fake.endpoint);
      try {
        const state = new TorState(control);
        await state.close();
        await assert.rejects(state.start(), TorControlClosedError);
        assert.equal(commandsMatching(fake, /^(GETINFO ns|SETEVENTS)/).length, 0);
      } finally {
        control.destroy();
        await fake.close();
      }
    });

    it('an attacher set before start() takes over streams once the state is started, not before: until then it follows none', async () => {
      const fake = await FakeControlServer.start();
      fake.info(BASE_INFO);
      fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
      const { control } = await openTorControl(fake.endpoint);
      const other = await TorState.create(control);
      const state = new TorState(control);
      try {
        const asked: string[] = [];
        await state.setAttacher((stream) => {
          asked.push(`early ${stream.id}`);
          return undefined;
        });
        // Before the fix tor was told to leave every new stream unattached for a state that sees
        // none of them, and the other state, taking it for the attacher, answered none: each
        // stream waited for tor's two minutes.
        assert.deepEqual(commandsMatching(fake, /^SETCONF/), []);
        await other.setAttacher((stream) => {
          asked.push(`other ${stream.id}`);
          return undefined;
        });
        fake.event('STREAM 130 NEW 0 x.example:80 SOURCE_ADDR=127.0.0.1:130 PURPOSE=USER');
        fake.event('STREAM 130 CONTROLLER_WAIT 0 x.example:80');
        await fake.waitForCommand(/^ATTACHSTREAM 130 /);
        await other.setAttacher(null);
        await state.start();
        assert.equal(fake.conf.get('__LeaveStreamsUnattached'), '1');
        fake.event('STREAM 131 NEW 0 x.example:80 SOURCE_ADDR=127.0.0.1:131 PURPOSE=USER');
        fake.event('STREAM 131 CONTROLLER_WAIT 0 x.example:80');
        await fake.waitForCommand(/^ATTACHSTREAM 131 /);
        assert.deepEqual(asked, ['other 130', 'early 131']);
        await state.setAttacher(null);
        assert.equal(fake.conf.get('__LeaveStreamsUnattached'), '0');
      } finally {
        await state.close();
        await other.close();
        control.destroy();
        await fake.close();
      }
    });

    it('hands out one Stream for a stream tor reports FAILED then CLOSED', async () => {
      const { fake, state } = await setup();
      const failed = once(state, 'streamFailed');
      const closed = once(state, 'streamClosed');
      fake.event('STREAM 30 NEW 0 127.0.0.1:1 SOURCE_ADDR=127.0.0.1:5030 PURPOSE=USER');
      fake.event('STREAM 30 FAILED 0 127.0.0.1:1 REASON=END REMOTE_REASON=MISC');
      fake.event('STREAM 30 CLOSED 0 127.0.0.1:1 REASON=END REMOTE_REASON=MISC');
      const [[st], [ended]] = await Promise.all([failed, closed]);
      assert.equal(ended, st);
      assert.equal(st.status, 'CLOSED');
      assert.equal(state.streams.size, 0);
    });

    it("clientProcess lookups made together share one GETINFO of tor's SOCKS listeners", async () => {
      const { fake, state } = await setup({ info: { 'net/listeners/socks': '"127.0.0.1:9050"' }, state: { procRoot: '/nonexistent-proc' } });
      for (const id of ['40', '41', '42']) fake.event(`STREAM ${id} NEW 0 x.example:80 SOURCE_ADDR=127.0.0.1:50${id} PURPOSE=USER`);
      await sync(harness!);
      const streams = ['40', '41', '42'].map((id) => state.streams.get(id)!);
      assert.deepEqual(await Promise.all(streams.map((st) => st.clientProcess())), [undefined, undefined, undefined]);
      assert.equal(commandsMatching(fake, /^GETINFO net\/listeners\/socks/).length, 1);
      // A later lookup asks again: the listeners may have changed.
      await streams[0]!.clientProcess();
      assert.equal(commandsMatching(fake, /^GETINFO net\/listeners\/socks/).length, 2);
    });

    it("clientProcess finds an HTTPTunnelPort client: its socket goes to tor's HTTP CONNECT listener, not a SOCKS one", async () => {
      // A /proc with one client socket, 127.0.0.1:50100 -> 127.0.0.1:8118 (tor's HTTPTunnelPort), held by pid 700.
      const procRoot = await mkdtemp(path.join(os.tmpdir(), 'torcon-proc-'));
      try {
        await mkdir(path.join(procRoot, 'net'));
        const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
        const row = '   0: 0100007F:C3B4 0100007F:1FB6 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0 20 4 30 10 -1\n';
        await writeFile(path.join(procRoot, 'net', 'tcp'), header + row);
        await writeFile(path.join(procRoot, 'net', 'tcp6'), header);
        await mkdir(path.join(procRoot, '700', 'fd'), { recursive: true });
        await symlink('socket:[4242]', path.join(procRoot, '700', 'fd', '5'));
        await writeFile(path.join(procRoot, '700', 'cmdline'), 'curl\x00-p\x00-x\x00127.0.0.1:8118\x00http://example.com/\x00');
        const { fake, state } = await setup({
          info: { 'net/listeners/socks': '"127.0.0.1:9050"', 'net/listeners/httptunnel': '"127.0.0.1:8118"' },
          state: { procRoot },
        });
        fake.event('STREAM 50 NEW 0 example.com:80 SOURCE_ADDR=127.0.0.1:50100 PURPOSE=USER CLIENT_PROTOCOL=HTTPCONNECT');
        await sync(harness!);
        const stream = state.streams.get('50')!;
        assert.deepEqual(await stream.clientProcess(), { pid: 700, command: 'curl -p -x 127.0.0.1:8118 http://example.com/' });
      } finally {
        await rm(procRoot, { recursive: true, force: true });
      }
    });

    it("clientProcess finds TransPort and NATDPort clients: connected to tor's listener, or (redirected) to the destination they asked for", async () => {
      // One client socket per stream, each held by its own process (pid = 700 + inode % 100):
      const clients: Array<[local: string, remote: string, inode: number, cmdline: string]> = [
        ['0100007F:C418', '0100007F:2350', 5150, 'nc 127.0.0.1 9040'], // 127.0.0.1:50200 -> tor's TransPort 127.0.0.1:9040, directly
        ['0100007F:C419', '0700000A:0050', 5151, 'curl http://10.0.0.7/'], // 127.0.0.1:50201 -> 10.0.0.7:80, which iptables REDIRECTed to the TransPort
        ['0100007F:C41A', '0100007F:2351', 5152, 'natd-client'], // 127.0.0.1:50202 -> tor's NATDPort 127.0.0.1:9041
        ['0100007F:C41B', '0800000A:01BB', 5153, 'wget https://10.0.0.8/'], // 127.0.0.1:50203 -> 10.0.0.8:443: not tor's (the stream is a SOCKS one)
      ];
      const procRoot = await mkdtemp(path.join(os.tmpdir(), 'torcon-proc-'));
      try {
        await mkdir(path.join(procRoot, 'net'));
        const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
        const rows = clients.map(([local, remote, inode]) => `   0: ${local} ${remote} 01 00000000:00000000 00:00000000 00000000  1000        0 ${inode} 1 0 20 4 30 10 -1\n`);
        await writeFile(path.join(procRoot, 'net', 'tcp'), header + rows.join(''));
        await writeFile(path.join(procRoot, 'net', 'tcp6'), header);
        for (const [, , inode, cmdline] of clients) {
          const pid = String(700 + (inode % 100));
          await mkdir(path.join(procRoot, pid, 'fd'), { recursive: true });
          await symlink(`socket:[${inode}]`, path.join(procRoot, pid, 'fd', '5'));
          await writeFile(path.join(procRoot, pid, 'cmdline'), cmdline.replaceAll(' ', '\x00') + '\x00');
        }
        const { fake, state } = await setup({
          info: { 'net/listeners/socks': '"127.0.0.1:9050"', 'net/listeners/trans': '"127.0.0.1:9040"', 'net/listeners/natd': '"127.0.0.1:9041"' },
          state: { procRoot },
        });
        fake.event('STREAM 60 NEW 0 127.0.0.1:9040 SOURCE_ADDR=127.0.0.1:50200 PURPOSE=USER CLIENT_PROTOCOL=TRANS');
        fake.event('STREAM 61 NEW 0 10.0.0.7:80 SOURCE_ADDR=127.0.0.1:50201 PURPOSE=USER CLIENT_PROTOCOL=TRANS');
        // An automapped address: tor remaps the stream to the hostname; the socket still goes to 10.0.0.7:80.
        fake.event('STREAM 61 REMAP 0 www.example.com:80 SOURCE=CACHE');
        fake.event('STREAM 62 NEW 0 10.1.2.3:80 SOURCE_ADDR=127.0.0.1:50202 PURPOSE=USER CLIENT_PROTOCOL=NATD');
        fake.event('STREAM 63 NEW 0 10.0.0.8:443 SOURCE_ADDR=127.0.0.1:50203 PURPOSE=USER CLIENT_PROTOCOL=SOCKS5');
        await sync(harness!);
        assert.equal(state.streams.get('61')!.target.host, 'www.example.com');
        const found = await Promise.all(['60', '61', '62', '63'].map((id) => state.streams.get(id)!.clientProcess()));
        assert.deepEqual(found, [
          { pid: 750, command: 'nc 127.0.0.1 9040' },
          { pid: 751, command: 'curl http://10.0.0.7/' },
          { pid: 752, command: 'natd-client' },
          undefined,
        ]);
        assert.equal(commandsMatching(fake, /^GETINFO net\/listeners\/(trans|natd)$/).length, 2, 'one GETINFO of each, shared');
      } finally {
        await rm(procRoot, { recursive: true, force: true });
      }
    });

    it('clientProcess still narrows to the SOCKS listeners when tor does not know net/listeners/httptunnel', async () => {
      const procRoot = await mkdtemp(path.join(os.tmpdir(), 'torcon-proc-'));
      try {
        await mkdir(path.join(procRoot, 'net'));
        const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
        // 127.0.0.1:50101 is now some other process's connection elsewhere (10.0.0.5:443), not tor's client.
        const row = '   0: 0100007F:C3B5 0500000A:01BB 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0 20 4 30 10 -1\n';
        await writeFile(path.join(procRoot, 'net', 'tcp'), header + row);
        await writeFile(path.join(procRoot, 'net', 'tcp6'), header);
        await mkdir(path.join(procRoot, '701', 'fd'), { recursive: true });
        await symlink('socket:[4343]', path.join(procRoot, '701', 'fd', '5'));
        const { fake, state } = await setup({ info: { 'net/listeners/socks': '"127.0.0.1:9050"' }, state: { procRoot } });
        fake.event('STREAM 51 NEW 0 example.com:80 SOURCE_ADDR=127.0.0.1:50101 PURPOSE=USER');
        await sync(harness!);
        assert.equal(await state.streams.get('51')!.clientProcess(), undefined);
      } finally {
        await rm(procRoot, { recursive: true, force: true });
      }
    });

    it('a state whose connection closed lets go of its subscriptions', async () => {
      const { state, control } = await setup();
      assert.ok(Object.keys(subscriptions(control)).length > 0);
      const closed = once(state, 'close');
      control.destroy();
      await closed;
      assert.deepEqual(subscriptions(control), {});
    });

    it('tor.close() during a state build: its callers get TorControlClosedError (the handle closed), not an abort of theirs', async () => {
      const fake = await FakeControlServer.start();
      fake.info(BASE_INFO);
      fake.handle(/^GETINFO ns\/all/, () => new Promise<undefined>(() => undefined));
      const { control } = await openTorControl(fake.endpoint);
      const tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
      try {
        const waiting = [tor.getState(), tor.getState({ timeoutMs: 60_000 })];
        await fake.waitForCommand(/^GETINFO ns\/all/, 1);
        await tor.close();
        for (const w of waiting) {
          await assert.rejects(w, (e: unknown) => e instanceof TorControlClosedError && /closed \(close\(\)\) while its state was being built/.test(e.message));
        }
      } finally {
        await tor.close();
        await fake.close();
      }
    });

    it("tor.getState: one caller's abort or timeout ends only its own wait; the build stops when every caller gave up", async () => {
      const fake = await FakeControlServer.start();
      fake.info(BASE_INFO);
      let release!: () => void;
      const answer = new Promise<void>((resolve) => (release = resolve));
      fake.handle(/^GETINFO ns\/all/, async () => {
        await answer;
        return undefined; // then the table answers
      });
      const { control } = await openTorControl(fake.endpoint);
      const tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
      try {
        const ac = new AbortController();
        const impatient = tor.getState({ signal: ac.signal });
        const hurried = tor.getState({ timeoutMs: 20 });
        const patient = tor.getState();
        ac.abort();
        await assert.rejects(impatient, TorAbortError);
        await assert.rejects(hurried, TorTimeoutError);
        release();
        const state = await patient;
        assert.equal(state.routers.size, 4);
        assert.equal(await tor.getState(), state);
        assert.equal(commandsMatching(fake, /^GETINFO ns\/all/).length, 1, 'one build for all');
        await state.close();

        // Everyone gives up: the build stops, and the next call builds afresh.
        const before = commandsMatching(fake, /^GETINFO ns\/all/).length;
        const gaveUp = new AbortController();
        const lone = tor.getState({ signal: gaveUp.signal });
        await fake.waitForCommand(/^GETINFO ns\/all/, before + 1);
        gaveUp.abort();
        await assert.rejects(lone, TorAbortError);
        const fresh = await tor.getState();
        assert.notEqual(fresh, state);
        assert.equal(commandsMatching(fake, /^GETINFO ns\/all/).length, before + 2);
      } finally {
        await tor.close();
        await fake.close();
      }
    });
  });

  describe('replaying a recorded session of the test network', () => {
    it('ends in the state tor reported, emitting each change', async () => {
      const now = Date.UTC(2026, 10, 25, 15, 45, 0);
      const { fake, state } = await setup({ info: RECORDED_INFO, state: { clock: () => new Date(now) } });
      const seen: Record<string, string[]> = {};
      const names: Array<keyof TorStateEvents> = [
        'circuitLaunched',
        'circuitExtended',
        'circuitBuilt',
        'circuitFailed',
        'circuitClosed',
        'streamNew',
        'streamSucceeded',
        'streamAttached',
        'streamDetached',
        'streamFailed',
        'streamClosed',
        'addrmapAdded',
        'consensus',
        'guardsChanged',
      ];
      for (const name of names) {
        seen[name] = [];
        state.on(name as never, ((subject: Circuit | Stream | { address: string }) => {
          seen[name]!.push('id' in subject ? subject.id : 'address' in subject ? subject.address : name);
        }) as never);
      }
      let closedStream17: Stream | undefined;
      state.on('streamClosed', (s) => {
        if (s.id === '17') closedStream17 = s;
      });
      for (const wire of RECORDED_EVENTS) fake.rawEvent(wire);
      await sync(harness!);

      assert.deepEqual(seen['circuitBuilt'], ['11', '12', '14', '16', '15', '17', '19', '20', '21']);
      assert.deepEqual(seen['circuitFailed'], ['13', '18']);
      assert.deepEqual(seen['streamNew'], ['15', '16', '17', '19']);
      assert.deepEqual(seen['streamAttached'], ['15', '17', '19']);
      assert.deepEqual(seen['streamSucceeded'], ['17', '19']);
      assert.deepEqual(seen['streamClosed'], ['16', '17', '15', '19']);

      assert.deepEqual(seen['addrmapAdded'], ['10.1.2.3', '127.0.0.1', 'example.org']);
      assert.equal(seen['consensus']!.length, 1);
      assert.equal(seen['guardsChanged']!.length, 1, 'the UP of auth0; layer-2 statuses change nothing');

      const c11 = state.circuits.get('11')!;
      assert.equal(c11.status, 'BUILT');
      assert.deepEqual(c11.path.map((r) => r.nickname), ['auth0', 'auth1', 'auth2']);
      assert.ok(!state.circuits.has('13'));
      assert.equal(state.streams.size, 0);
      assert.equal(closedStream17?.circuit?.id, '14');
      assert.deepEqual(closedStream17?.sourceAddr, { host: '127.0.0.1', port: 49026 });
      assert.equal(state.addressMap.get('10.1.2.3')?.newAddress, 'example.com');
      // The failed RESOLVEs were answers tor does not keep (CACHED="NO"): announced, not mapped.
      assert.equal(state.addressMap.has('example.org'), false);
      assert.equal(state.addressMap.has('127.0.0.1'), false);
      assert.equal(state.routers.get(FP.auth1)?.bandwidth, 10, 'the NEWCONSENSUS replaced the routers');
      assert.deepEqual(
        state.guards.map((g) => `${g.nickname}:${g.status}`),
        ['auth1:up', 'auth3:up', 'auth0:up', 'auth2:never-connected'],
      );
    });
  });

  describe('events out', () => {
    it('a throwing listener is reported as listenerError and the others still run', async () => {
      const { fake, state } = await setup();
      const calls: string[] = [];
      const boom = new Error('listener bug');
      state.on('circuitLaunched', () => {
        throw boom;
      });
      state.on('circuitLaunched', (c) => calls.push(c.id));
      const reported = once(state, 'listenerError');
      fake.event('CIRC 60 LAUNCHED');
      assert.deepEqual(await reported, [boom, 'circuitLaunched']);
      await sync(harness!);
      assert.deepEqual(calls, ['60']);
      assert.ok(state.circuits.has('60'));
      // without a listenerError listener the error is only logged
      state.removeAllListeners('listenerError');
      fake.event('CIRC 61 LAUNCHED');
      await sync(harness!);
      assert.deepEqual(calls, ['60', '61']);
    });

    it('an async listener that rejects is reported as listenerError, not left unhandled', async () => {
      const { fake, state } = await setup();
      const unhandled: unknown[] = [];
      const onUnhandled = (err: unknown) => unhandled.push(err);
      process.on('unhandledRejection', onUnhandled);
      try {
        const boom = new Error('async listener bug');
        state.on('circuitLaunched', async () => {
          await Promise.resolve();
          throw boom;
        });
        const reported = once(state, 'listenerError');
        fake.event('CIRC 62 LAUNCHED');
        assert.deepEqual(await reported, [boom, 'circuitLaunched']);
        // without a listenerError listener it is only logged, still not unhandled
        state.removeAllListeners('listenerError');
        fake.event('CIRC 63 LAUNCHED');
        await sync(harness!);
        await new Promise((r) => setImmediate(r));
        assert.deepEqual(unhandled, []);
        assert.ok(state.circuits.has('62') && state.circuits.has('63'));
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });

    it('reports unreadable CIRC and STREAM events as malformedEvent, the password masked, and carries on', async () => {
      const { fake, state } = await setup();
      const reports: Array<[Error, string]> = [];
      state.on('malformedEvent', (err, text) => reports.push([err, text]));
      fake.event('CIRC');
      fake.event('STREAM 5 NEW 0 no-port SOCKS_PASSWORD="s3cret"');
      fake.event('CIRC 61 LAUNCHED PURPOSE=GENERAL');
      fake.event('CIRC 61 BUILT PURPOSE="unterminated SOCKS_PASSWORD="s3cret"');
      await sync(harness!);
      assert.equal(reports.length, 2, 'a bad id, status or target is found on arrival');
      assert.ok(!state.streams.has('5'));
      const c = state.circuits.get('61')!;
      assert.equal(c.status, 'BUILT');
      assert.equal(c.purpose, 'GENERAL', 'the rest is read when asked for; what could not be read is skipped');
      assert.equal(reports.length, 3);
      for (const [err, text] of reports) {
        assert.ok(err instanceof TorProtocolError, String(err));
        assert.ok(!text.includes('s3cret') && !err.message.includes('s3cret'), text);
      }
      assert.deepEqual(
        reports.map(([, text]) => text),
        // The last was kept unread up to where it stops being readable (and so holds no password).
        ['CIRC', 'STREAM 5 NEW 0 no-port SOCKS_PASSWORD=[redacted]', 'CIRC 61 BUILT PURPOSE="'],
      );
    });

    it('once() listeners run once', async () => {
      const { fake, state } = await setup();
      let n = 0;
      state.once('circuitLaunched', () => n++);
      fake.event('CIRC 60 LAUNCHED');
      fake.event('CIRC 61 LAUNCHED');
      await sync(harness!);
      assert.equal(n, 1);
    });
  });

  describe('buildCircuit', () => {
    it('sends EXTENDCIRCUIT with fingerprints and resolves when the circuit is BUILT', async () => {
      const { fake, state } = await setup();
      fake.handle(/^EXTENDCIRCUIT/, () => {
        setImmediate(() => {
          fake.event('CIRC 77 LAUNCHED PURPOSE=CONTROLLER');
          fake.event(`CIRC 77 EXTENDED ${ln('auth0')} PURPOSE=CONTROLLER`);
          fake.event(`CIRC 77 BUILT ${PATH3} PURPOSE=CONTROLLER`);
        });
        return ['250 EXTENDED 77'];
      });
      const launched = once(state, 'circuitLaunched');
      const c = await state.buildCircuit(['auth0', state.routerByName('auth1')!, ln('auth2')], { purpose: 'controller' });
      assert.equal(
        commandsMatching(fake, /^EXTENDCIRCUIT/)[0],
        `EXTENDCIRCUIT 0 $${FP.auth0},$${FP.auth1},$${FP.auth2} purpose=controller`,
      );
      assert.equal(c.id, '77');
      assert.equal(c.status, 'BUILT');
      assert.equal(c.purpose, 'CONTROLLER');
      assert.deepEqual(c.path.map((r) => r.nickname), ['auth0', 'auth1', 'auth2']);
      assert.equal(state.circuits.get('77'), c);
      assert.equal((await launched)[0], c);
      assert.equal(await c.whenBuilt(), c, 'whenBuilt of a built circuit resolves at once');
    });

    it('refuses a LongName whose nickname is not its relay\'s, as routerByName does, sending nothing; passes one of an unlisted relay on for tor to check', async () => {
      const { fake, state } = await setup();
      const wrong = `$${FP.auth0}~auth1`;
      assert.equal(state.routerByName(wrong), undefined);
      await assert.rejects(
        state.buildCircuit([wrong, 'auth1', 'auth2']),
        (e: unknown) => e instanceof TorInvalidValueError && e.message.includes('whose nickname is auth0'),
      );
      assert.deepEqual(commandsMatching(fake, /^EXTENDCIRCUIT/), []);
      fake.handle(/^EXTENDCIRCUIT/, () => ['552 No such router']);
      const unlisted = `$${'A'.repeat(40)}~somebody`;
      await assert.rejects(state.buildCircuit([unlisted, `$${FP.auth1}=AUTH1`]), TorCircuitError);
      assert.deepEqual(commandsMatching(fake, /^EXTENDCIRCUIT/), [`EXTENDCIRCUIT 0 ${unlisted},$${FP.auth1}`]);
    });

    it('lets tor choose the path when none is given', async () => {
      const { fake, state } = await setup();
      fake.handle(/^EXTENDCIRCUIT/, () => {
        setImmediate(() => fake.event(`CIRC 78 BUILT ${PATH3}`));
        return ['250 EXTENDED 78'];
      });
      await state.buildCircuit();
      assert.deepEqual(commandsMatching(fake, /^EXTENDCIRCUIT/), ['EXTENDCIRCUIT 0']);
    });

    it('rejects with TorCircuitError carrying tor\'s reasons when the circuit fails', async () => {
      const { fake, state } = await setup();
      fake.handle(/^EXTENDCIRCUIT/, () => {
        setImmediate(() => {
          fake.event(`CIRC 79 EXTENDED ${ln('auth0')}`);
          fake.event(`CIRC 79 FAILED ${ln('auth0')} REASON=DESTROYED REMOTE_REASON=OR_CONN_CLOSED`);
          fake.event(`CIRC 79 CLOSED ${ln('auth0')} REASON=DESTROYED REMOTE_REASON=OR_CONN_CLOSED`);
        });
        return ['250 EXTENDED 79'];
      });
      const failed = once(state, 'circuitFailed');
      const err = await state.buildCircuit(['auth0', 'auth1', 'auth2']).catch((e: unknown) => e);
      assert.ok(err instanceof TorCircuitError, String(err));
      assert.equal(err.code, 'TOR_CIRCUIT_FAILED');
      assert.equal(err.circuitId, '79');
      assert.equal(err.reason, 'DESTROYED');
      assert.equal(err.remoteReason, 'OR_CONN_CLOSED');
      const [circuit] = await failed;
      assert.equal(circuit.id, '79');
      await assert.rejects(circuit.whenBuilt(), TorCircuitError);
    });

    it('knows about a failure that tor reported before its EXTENDCIRCUIT reply', async () => {
      const { fake, state } = await setup();
      fake.handle(/^EXTENDCIRCUIT/, () => {
        fake.event('CIRC 80 FAILED REASON=NOPATH');
        return ['250 EXTENDED 80'];
      });
      await assert.rejects(state.buildCircuit(['auth0']), (e: unknown) => e instanceof TorCircuitError && e.reason === 'NOPATH');
    });

    it('turns a refused EXTENDCIRCUIT into TorCircuitError', async () => {
      const { fake, state } = await setup();
      fake.handle(/^EXTENDCIRCUIT/, () => ['552 No such router "x"']);
      const err = await state.buildCircuit(['auth0']).catch((e: unknown) => e);
      assert.ok(err instanceof TorCircuitError);
      assert.ok(err.cause instanceof TorControlError);
    });

    it('closes the circuit and rejects with TorCircuitError on timeout and on abort, the why as its cause', async () => {
      const { fake, state } = await setup();
      let next = 90;
      fake.handle(/^EXTENDCIRCUIT/, () => [`250 EXTENDED ${next++}`]);
      const gaveUp = (id: string | undefined, cause: new (...a: never[]) => Error) => (e: unknown) =>
        e instanceof TorCircuitError && e.code === 'TOR_CIRCUIT_FAILED' && e.circuitId === id && e.cause instanceof cause;
      await assert.rejects(state.buildCircuit(['auth0'], { timeoutMs: 50 }), gaveUp('90', TorTimeoutError));
      assert.equal(await fake.waitForCommand(/^CLOSECIRCUIT 90$/), 'CLOSECIRCUIT 90');
      const ac = new AbortController();
      const building = state.buildCircuit(['auth0'], { signal: ac.signal });
      await fake.waitForCommand(/^EXTENDCIRCUIT/);
      await sync(harness!);
      ac.abort();
      await assert.rejects(building, gaveUp('91', TorAbortError));
      assert.equal(await fake.waitForCommand(/^CLOSECIRCUIT 91$/), 'CLOSECIRCUIT 91');
      // Aborted before anything was sent, or while tor had not yet answered EXTENDCIRCUIT.
      await assert.rejects(state.buildCircuit(['auth0'], { signal: AbortSignal.abort() }), gaveUp(undefined, TorAbortError));
      // whenBuilt and whenClosed give up the same way.
      const c = state.circuits.get('11')!;
      fake.event('CIRC 92 LAUNCHED');
      await sync(harness!);
      const launched = state.circuits.get('92')!;
      await assert.rejects(launched.whenBuilt({ timeoutMs: 10 }), gaveUp('92', TorTimeoutError));
      await assert.rejects(launched.whenBuilt({ signal: AbortSignal.abort() }), gaveUp('92', TorAbortError));
      await assert.rejects(c.whenClosed({ timeoutMs: 10 }), gaveUp('11', TorTimeoutError));
      // Last: tor never answers this EXTENDCIRCUIT, so nothing after it would be answered either.
      fake.handle(/^EXTENDCIRCUIT/, () => new Promise<undefined>(() => undefined));
      await assert.rejects(state.buildCircuit(['auth0'], { timeoutMs: 50 }), gaveUp(undefined, TorTimeoutError));
    });

    it('closes the circuit tor began when the timeout or abort came before its EXTENDCIRCUIT reply (it was left open)', async () => {
      const { fake, state } = await setup();
      fake.handle(/^CLOSECIRCUIT/, () => ['250 OK']);
      for (const [id, cause] of [['96', TorTimeoutError], ['97', TorAbortError]] as const) {
        let answer: (lines: string[]) => void = () => undefined;
        fake.handle(/^EXTENDCIRCUIT/, () => new Promise<string[]>((resolve) => (answer = resolve)));
        const ac = new AbortController();
        const building = state.buildCircuit(['auth0', 'auth1'], cause === TorTimeoutError ? { timeoutMs: 20 } : { signal: ac.signal });
        await fake.waitForCommand(/^EXTENDCIRCUIT/);
        ac.abort();
        await assert.rejects(building, (e: unknown) => e instanceof TorCircuitError && e.cause instanceof cause);
        answer([`250 EXTENDED ${id}`]);
        assert.equal(await fake.waitForCommand(new RegExp(`^CLOSECIRCUIT ${id}$`)), `CLOSECIRCUIT ${id}`);
        fake.commands.length = 0;
      }
    });

    it('rejects with TorControlClosedError, and closes the circuit tor began, when the state closes before tor answers EXTENDCIRCUIT', async () => {
      const { fake, state } = await setup();
      let answer: (lines: string[]) => void = () => undefined;
      fake.handle(/^EXTENDCIRCUIT/, () => new Promise<string[]>((resolve) => (answer = resolve)));
      const building = state.buildCircuit(['auth0', 'auth1', 'auth2']);
      await fake.waitForCommand(/^EXTENDCIRCUIT/);
      const closing = state.close();
      answer(['250 EXTENDED 93']);
      // Before the fix, nothing settled this: a closed state sees no CIRC event for circuit 93.
      await assert.rejects(building, TorControlClosedError);
      assert.equal(await fake.waitForCommand(/^CLOSECIRCUIT 93$/), 'CLOSECIRCUIT 93');
      await closing;
      assert.equal(state.circuits.has('93'), false);
    });

    it('refuses a nickname that several relays share, sending nothing; their fingerprints, and routerByName, still work', async () => {
      // A second relay named auth1 (any case): tor's nicknames are not unique.
      const twin = 'r AUTH1 AAAAAAAAAAAAAAAAAAAAAAAAAAA BBBBBBBBBBBBBBBBBBBBBBBBBBB 2038-01-01 00:00:00 127.0.0.1 9001 0\ns Fast Running Valid\n';
      const { fake, state } = await setup({ info: { 'ns/all': RECORDED_INFO['ns/all']!.replace(/\n?$/, '\n') + twin } });
      fake.handle(/^EXTENDCIRCUIT/, () => {
        setImmediate(() => fake.event(`CIRC 95 BUILT ${PATH3}`));
        return ['250 EXTENDED 95'];
      });
      await assert.rejects(
        state.buildCircuit(['auth0', 'auth1', 'auth2']),
        (e: unknown) => e instanceof TorInvalidValueError && /several relays are named "auth1"/.test(e.message),
      );
      assert.deepEqual(commandsMatching(fake, /^EXTENDCIRCUIT/), []);
      assert.equal(state.routerByName('auth1')?.fingerprint, FP.auth1, 'the first in the consensus, as documented');
      const c = await state.buildCircuit(['auth0', `$${FP.auth1}`, 'auth2']);
      assert.equal(c.id, '95');
      assert.equal(commandsMatching(fake, /^EXTENDCIRCUIT/)[0], `EXTENDCIRCUIT 0 $${FP.auth0},$${FP.auth1},$${FP.auth2}`);
    });

    it('refuses a path where a relay follows itself or the hop before it, sending nothing; a relay further on is fine', async () => {
      const { fake, state } = await setup();
      fake.handle(/^EXTENDCIRCUIT/, () => {
        setImmediate(() => fake.event(`CIRC 94 BUILT ${PATH3},${ln('auth0')}`));
        return ['250 EXTENDED 94'];
      });
      const repeats = [
        ['auth0', 'auth0'],
        ['auth0', 'auth1', 'auth0'],
        ['auth0', 'auth1', 'auth1'],
        ['auth0', `$${FP.auth1.toLowerCase()}`, ln('auth1')],
        [state.routerByName('auth2')!, 'auth1', 'AUTH2'],
      ];
      for (const path of repeats) {
        await assert.rejects(state.buildCircuit(path), (e: unknown) => e instanceof TorInvalidValueError && /again/.test(e.message), String(path));
      }
      assert.deepEqual(commandsMatching(fake, /^EXTENDCIRCUIT/), []);
      const c = await state.buildCircuit(['auth0', 'auth1', 'auth2', 'auth0']);
      assert.equal(c.id, '94');
    });

    it('refuses bad paths and purposes before sending anything', async () => {
      const { fake, state } = await setup();
      await assert.rejects(state.buildCircuit(['auth0', 'nosuchrelay']), TorInvalidValueError);
      await assert.rejects(state.buildCircuit(['auth0 auth1']), TorInvalidValueError);
      await assert.rejects(state.buildCircuit(['$1234']), TorInvalidValueError);
      await assert.rejects(state.buildCircuit([]), TorInvalidValueError);
      await assert.rejects(state.buildCircuit(['auth0'], { purpose: 'evil\r\nSIGNAL HALT' as never }), TorInvalidValueError);
      await assert.rejects(
        state.buildCircuit(['auth0'], { signal: AbortSignal.abort() }),
        (e: unknown) => e instanceof TorCircuitError && e.cause instanceof TorAbortError,
      );
      assert.deepEqual(commandsMatching(fake, /^EXTENDCIRCUIT/), []);
    });
  });

  // What a JavaScript caller may pass where the options go: null is none, as undefined is; a
  // number (a timeout in the wrong place) is refused, not ignored.
  describe('options of buildCircuit, closeCircuit, Circuit.close, whenBuilt, whenClosed', () => {
    it('null options are none (they threw a bare TypeError)', async () => {
      const { fake, state } = await setup();
      const none = null as never;
      fake.handle(/^CLOSECIRCUIT/, () => ['250 OK']);
      fake.handle(/^EXTENDCIRCUIT/, () => ['250 EXTENDED 79']);
      const building = state.buildCircuit(['auth0', 'auth1'], none);
      await sync(harness!);
      const c = state.circuits.get('79')!;
      const built = c.whenBuilt(none);
      const closed = c.whenClosed(none);
      fake.event(`CIRC 79 BUILT ${PATH3}`);
      assert.equal(await building, c);
      assert.equal(await built, c);
      await state.closeCircuit('79', none);
      await c.close(none);
      assert.deepEqual(commandsMatching(fake, /^CLOSECIRCUIT/), ['CLOSECIRCUIT 79', 'CLOSECIRCUIT 79']);
      fake.event(`CIRC 79 CLOSED ${PATH3} REASON=REQUESTED`);
      assert.equal(await closed, c);
    });

    it('a number where the options go is TOR_INVALID_VALUE, nothing sent (it was ignored: no timeout at all)', async () => {
      const { fake, state } = await setup();
      const isOptionsError = (e: unknown) => e instanceof TorInvalidValueError && /options: must be an object/.test(e.message);
      await assert.rejects(state.buildCircuit(['auth0', 'auth1'], 30_000 as never), isOptionsError);
      await assert.rejects(state.buildCircuit(undefined, 30_000 as never), isOptionsError);
      await assert.rejects(state.closeCircuit('11', 30_000 as never), isOptionsError);
      await assert.rejects(state.circuits.get('11')!.close(30_000 as never), isOptionsError);
      assert.deepEqual(commandsMatching(fake, /^(EXTEND|CLOSE)CIRCUIT/), []);
    });
  });

  describe('routerByName', () => {
    it("takes tor's forms of a relay name: nickname, fingerprint, $fingerprint~nickname", async () => {
      const { state } = await setup();
      const auth2 = state.routers.get(FP.auth2)!;
      for (const name of ['auth2', 'AUTH2', FP.auth2, FP.auth2.toLowerCase(), `$${FP.auth2}`, `$${FP.auth2}~auth2`, `$${FP.auth2}=AUTH2`]) {
        assert.equal(state.routerByName(name), auth2, name);
      }
      // A fingerprint with another relay's nickname, or names that are no relay's.
      for (const name of [`$${FP.auth2}~auth1`, `$${'A'.repeat(40)}`, '', ' auth2', 'auth2\r\n', 'x'.repeat(100_000), '\u212Auth2', 'AUTH\u0130']) {
        assert.equal(state.routerByName(name), undefined, JSON.stringify(name.slice(0, 50)));
      }
      for (const bad of [undefined, null, 42, {}]) {
        assert.throws(() => state.routerByName(bad as never), TorInvalidValueError);
      }
    });

    it('routersByName gives every relay of a shared nickname, in consensus order; one for a unique name, none for others', async () => {
      // A second relay named auth1 (another case): tor's nicknames are not unique.
      const twin = 'r AUTH1 AAAAAAAAAAAAAAAAAAAAAAAAAAA BBBBBBBBBBBBBBBBBBBBBBBBBBB 2038-01-01 00:00:00 127.0.0.1 9001 0\ns Fast Running Valid\n';
      const { state } = await setup({ info: { 'ns/all': RECORDED_INFO['ns/all']!.replace(/\n?$/, '\n') + twin } });
      const ZERO = '0'.repeat(40);
      for (const name of ['auth1', 'Auth1', 'AUTH1']) {
        assert.deepEqual(state.routersByName(name).map((r) => r.fingerprint), [FP.auth1, ZERO], name);
      }
      assert.equal(state.routerByName('auth1')?.fingerprint, FP.auth1, 'routerByName: the first of them');
      assert.deepEqual(state.routersByName('auth2'), [state.routers.get(FP.auth2)]);
      // Not a nickname (a fingerprint is routerByName's), or no relay's.
      for (const name of ['nobody', '', FP.auth2, `$${FP.auth2}~auth2`, '\u212Auth1', 'x'.repeat(100_000)]) {
        assert.deepEqual(state.routersByName(name), [], JSON.stringify(name.slice(0, 50)));
      }
      // A copy each time: changing it changes nothing in the state.
      state.routersByName('auth1').pop();
      assert.equal(state.routersByName('auth1').length, 2);
      for (const bad of [undefined, null, 42, {}]) {
        assert.throws(() => state.routersByName(bad as never), TorInvalidValueError);
      }
    });
  });

  describe('closing circuits and streams', () => {
    it('sends CLOSECIRCUIT and CLOSESTREAM with checked arguments', async () => {
      const { fake, state } = await setup();
      fake.handle(/^CLOSE(CIRCUIT|STREAM)/, () => ['250 OK']);
      await state.closeCircuit('11');
      await state.closeCircuit('11', { ifUnused: true });
      await state.circuits.get('11')!.close();
      await state.closeStream('5');
      await state.closeStream('6', 'done');
      await state.closeStream('7', 7);
      assert.deepEqual(commandsMatching(fake, /^CLOSE/), [
        'CLOSECIRCUIT 11',
        'CLOSECIRCUIT 11 IfUnused',
        'CLOSECIRCUIT 11',
        'CLOSESTREAM 5 1',
        'CLOSESTREAM 6 6',
        'CLOSESTREAM 7 7',
      ]);
      await assert.rejects(state.closeCircuit('1 2'), TorInvalidValueError);
      await assert.rejects(state.closeCircuit('1\r\nSIGNAL HALT'), TorInvalidValueError);
      await assert.rejects(state.closeStream('5', 'NOPE'), TorInvalidValueError);
      await assert.rejects(state.closeStream('5', 0), TorInvalidValueError);
      assert.equal(commandsMatching(fake, /^CLOSE/).length, 6);
    });

    it('takes a reason as its number in text, refuses odd arguments typed, and nothing once the state is closed', async () => {
      const { fake, state } = await setup();
      fake.handle(/^CLOSE(CIRCUIT|STREAM)/, () => ['250 OK']);
      await state.closeStream('8', '6');
      await state.closeStream('9', 'Timeout');
      await state.closeCircuit('11', { ifUnused: false });
      assert.deepEqual(commandsMatching(fake, /^CLOSE/), ['CLOSESTREAM 8 6', 'CLOSESTREAM 9 7', 'CLOSECIRCUIT 11']);
      for (const reason of [null, {}, '0', '256', '1.5', '__proto__', 'constructor', 'toString']) {
        await assert.rejects(state.closeStream('5', reason as never), TorInvalidValueError, String(reason));
      }
      // A number is said to be one (tor's ids are strings), not only "letters or digits".
      await assert.rejects(state.closeStream(5 as never), (e: unknown) => e instanceof TorInvalidValueError && /invalid stream id: must be a string .*got a number$/.test(e.message));
      await assert.rejects(state.closeCircuit(11 as never), (e: unknown) => e instanceof TorInvalidValueError && /invalid circuit id: must be a string .*got a number$/.test(e.message));
      await assert.rejects(state.closeCircuit('1 1'), (e: unknown) => e instanceof TorInvalidValueError && /invalid circuit id: must be 1-16 letters or digits$/.test(e.message));
      // A JavaScript caller's "false" is no boolean: refused rather than taken as true.
      await assert.rejects(state.closeCircuit('11', { ifUnused: 'false' as never }), TorInvalidValueError);
      await state.close();
      await assert.rejects(state.closeStream('5'), TorControlClosedError);
      await assert.rejects(state.closeCircuit('11'), TorControlClosedError);
      assert.equal(commandsMatching(fake, /^CLOSE/).length, 3);
    });

    it('whenClosed resolves on CLOSED and reports it', async () => {
      const { fake, state } = await setup();
      const c = state.circuits.get('11')!;
      const closed = c.whenClosed();
      const event = once(state, 'circuitClosed');
      fake.event(`CIRC 11 CLOSED ${PATH3} REASON=REQUESTED`);
      assert.equal(await closed, c);
      assert.equal((await event)[0], c);
      assert.equal(c.status, 'CLOSED');
      assert.equal(c.reason, 'REQUESTED');
      assert.ok(!state.circuits.has('11'));
      await assert.rejects(c.whenBuilt(), TorCircuitError);
      await assert.rejects(c.whenClosed({ timeoutMs: 10 }).then(() => Promise.reject(new Error('expected'))), /expected/);
    });
  });

  describe('streamForSocket', () => {
    /** A TCP connection on loopback standing in for one to tor's SOCKS port: its local end is what tor calls SOURCE_ADDR. */
    async function loopbackSocket(): Promise<{ socket: net.Socket; close: () => Promise<void> }> {
      const server = net.createServer(() => undefined);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      return {
        socket,
        close: async () => {
          socket.destroy();
          server.close();
        },
      };
    }

    it("finds the stream by the socket's local address and port (tor's SOURCE_ADDR), among others", async () => {
      const h = await setup();
      const { socket, close } = await loopbackSocket();
      try {
        h.fake.event('STREAM 70 NEW 0 other.example:80 SOURCE_ADDR=127.0.0.1:1 PURPOSE=USER');
        h.fake.event(`STREAM 71 NEW 0 example.com:443 SOURCE_ADDR=127.0.0.1:${socket.localPort} PURPOSE=USER`);
        h.fake.event('STREAM 71 SENTCONNECT 3 example.com:443');
        h.fake.event('STREAM 71 SUCCEEDED 3 93.184.216.34:443');
        const found = await h.state.streamForSocket(socket);
        assert.equal(found?.id, '71');
        assert.equal(found?.circuitId, '3');
        assert.deepEqual(found?.sourceAddr, { host: '127.0.0.1', port: socket.localPort });
        // TLS over it (a `tor:...:tls=true` endpoint's socket) has the same local end.
        const secure = tls.connect({ socket, rejectUnauthorized: false });
        secure.on('error', () => undefined);
        assert.equal(await h.state.streamForSocket(secure), found);
        secure.destroy();
      } finally {
        await close();
      }
    });

    it("applies what tor sent before answering first: an event still on its way when the call is made is found", async () => {
      const h = await setup();
      const { socket, close } = await loopbackSocket();
      try {
        await sync(h);
        // The NEW leaves tor just before its answer to the state's command, as when the SOCKS
        // reply reached the client before the event reached the controller.
        h.fake.handle(/^GETINFO version$/, () => {
          h.fake.event(`STREAM 72 NEW 0 example.com:443 SOURCE_ADDR=127.0.0.1:${socket.localPort} PURPOSE=USER`);
          return undefined;
        });
        assert.equal(h.state.streams.has('72'), false);
        const found = await h.state.streamForSocket(socket);
        assert.equal(found?.id, '72');
      } finally {
        await close();
      }
    });

    it('undefined when no stream came from the socket, or it has ended; a closed socket or one with no TCP local end asks tor nothing; a closed state: TorControlClosedError', async () => {
      const h = await setup();
      const { socket, close } = await loopbackSocket();
      try {
        assert.equal(await h.state.streamForSocket(socket), undefined, 'no stream from it');
        h.fake.event(`STREAM 73 NEW 0 example.com:443 SOURCE_ADDR=127.0.0.1:${socket.localPort} PURPOSE=USER`);
        h.fake.event('STREAM 73 CLOSED 0 example.com:443 REASON=DONE');
        assert.equal(await h.state.streamForSocket(socket), undefined, 'its stream closed');
        const before = commandsMatching(h.fake, /^GETINFO version$/).length;
        assert.equal(await h.state.streamForSocket(new net.Socket()), undefined, 'an unconnected socket has no local port');
        assert.equal(commandsMatching(h.fake, /^GETINFO version$/).length, before, 'nothing asked for it');
        // Closed: an open stream from its old port would be another connection's.
        h.fake.event(`STREAM 74 NEW 0 example.com:443 SOURCE_ADDR=127.0.0.1:${socket.localPort} PURPOSE=USER`);
        await sync(h);
        assert.equal((await h.state.streamForSocket(socket))?.id, '74');
        socket.destroy();
        const asked = commandsMatching(h.fake, /^GETINFO version$/).length;
        assert.equal(await h.state.streamForSocket(socket), undefined, 'a closed socket');
        assert.equal(commandsMatching(h.fake, /^GETINFO version$/).length, asked, 'nothing asked for a closed socket');
        await h.state.close();
        await assert.rejects(h.state.streamForSocket(socket), TorControlClosedError);
      } finally {
        await close();
      }
    });

    it('no answer rather than a wrong one: two streams from the same address and port, or the socket closed while tor was asked', async () => {
      const h = await setup();
      const { socket, close } = await loopbackSocket();
      try {
        // Connections to two SocksPorts of one tor may share a local port.
        h.fake.event(`STREAM 75 NEW 0 a.example:443 SOURCE_ADDR=127.0.0.1:${socket.localPort} PURPOSE=USER`);
        h.fake.event(`STREAM 76 NEW 0 b.example:443 SOURCE_ADDR=127.0.0.1:${socket.localPort} PURPOSE=USER`);
        assert.equal(await h.state.streamForSocket(socket), undefined, 'two candidates');
        h.fake.event('STREAM 76 CLOSED 0 b.example:443 REASON=DONE');
        assert.equal((await h.state.streamForSocket(socket))?.id, '75', 'one left');
        // The socket closes while the command is on its way: its port may be reused by then.
        h.fake.handle(/^GETINFO version$/, () => {
          socket.destroy();
          return undefined;
        });
        assert.equal(await h.state.streamForSocket(socket), undefined);
      } finally {
        await close();
      }
    });

    it('refuses what is no socket and bad options (TOR_INVALID_VALUE); signal and timeoutMs bound the command', async () => {
      const h = await setup();
      const { socket, close } = await loopbackSocket();
      try {
        for (const bad of [null, undefined, 5, 'tcp:127.0.0.1:9050', { localPort: 5 }]) {
          await assert.rejects(h.state.streamForSocket(bad as never), (err: unknown) => err instanceof TorInvalidValueError && err.code === 'TOR_INVALID_VALUE' && /socket/.test(err.message), String(bad));
        }
        await assert.rejects(h.state.streamForSocket(socket, { timeoutMs: -1 }), TorInvalidValueError);
        await assert.rejects(h.state.streamForSocket(socket, { bogus: 1 } as never), TorInvalidValueError);
        await assert.rejects(h.state.streamForSocket(socket, { signal: AbortSignal.abort() }), TorAbortError);
        // Also when the answer needs no tor (an unconnected socket), as every call refuses it.
        await assert.rejects(h.state.streamForSocket(new net.Socket(), { signal: AbortSignal.abort('no') }), (err: unknown) => err instanceof TorAbortError && err.cause === 'no');
        assert.equal(await h.state.streamForSocket(socket, null as never), undefined, "a JavaScript caller's null is no options");
        // tor does not answer: the timeout holds.
        h.fake.handle(/^GETINFO version$/, () => new Promise<undefined>(() => undefined));
        await assert.rejects(h.state.streamForSocket(socket, { timeoutMs: 50 }), TorTimeoutError);
      } finally {
        await close();
      }
    });
  });

  describe('attacher', () => {
    it("a new attacher (or none) closes the connections fetch and agents keep: a request on one opens no stream, so no attacher would choose its circuit (found porting stem's scripts)", async () => {
      const web = http.createServer((_req, res) => res.end('ok'));
      const webPort = await new Promise<number>((resolve) => web.listen(0, '127.0.0.1', () => resolve((web.address() as net.AddressInfo).port)));
      const socks = await startFakeSocksServer({ answer: () => ({ forwardTo: webPort }) });
      try {
        const h = await setup({ info: { 'net/listeners/socks': `"127.0.0.1:${socks.port}"` } });
        const tor = new Tor(h.control, { version: '0.4.9.1', controlEndpoint: h.fake.endpoint });
        const state = await tor.getState();
        const agent = tor.httpAgent({ keepAlive: true });
        const url = `http://127.0.0.1:${webPort}/`;
        const kept = () => waitUntil(() => Object.values(agent.freeSockets).flat().length === 1, 'the connection kept for reuse');
        assert.equal(await httpGetText(url, agent), 'ok');
        await kept();
        assert.equal(await httpGetText(url, agent), 'ok');
        assert.equal(socks.connections.length, 1, 'the kept connection is reused while the attacher stays');
        await kept();
        await state.setAttacher(() => undefined);
        assert.equal(await httpGetText(url, agent), 'ok');
        assert.equal(socks.connections.length, 2, 'a request after setAttacher opens a new stream, which the attacher is asked about');
        await kept();
        await state.setAttacher(null);
        assert.equal(await httpGetText(url, agent), 'ok');
        assert.equal(socks.connections.length, 3, 'and one after the attacher was cleared, which tor places');
        await kept();
        assert.equal(await httpGetText(url, agent), 'ok');
        assert.equal(socks.connections.length, 3, 'without an attacher the kept connection is reused again');
        await kept();
        await state.setAttacher(() => undefined);
        assert.equal(await httpGetText(url, agent), 'ok');
        assert.equal(socks.connections.length, 4);
        await kept();
        // Closing the state drops its attacher: as setAttacher(null), the kept connection goes.
        await state.close();
        assert.equal(await httpGetText(url, agent), 'ok');
        assert.equal(socks.connections.length, 5, 'a request after the state with an attacher closed opens a new stream');
        tor.socks.close();
      } finally {
        await socks.close();
        web.closeAllConnections();
        await new Promise((resolve) => web.close(resolve));
      }
    });

    it('sets __LeaveStreamsUnattached and attaches each new stream where the attacher says', async () => {
      const { fake, state } = await setup();
      fake.handle(/^(ATTACHSTREAM|CLOSESTREAM)/, () => ['250 OK']);
      fake.handle(/^ATTACHSTREAM 66 /, () => ['552 Unknown circuit']);
      const asked: string[] = [];
      await state.setAttacher(async (stream, st) => {
        asked.push(stream.id);
        assert.equal(st, state);
        switch (stream.target.host) {
          case 'mine.example':
            return st.circuits.get('11');
          case 'byid.example':
            return '11';
          case 'refuse.example':
            throw new Error('not allowed');
          case 'later.example':
            return st.circuits.get('90');
          case 'broken.example':
            return st.circuits.get('11');
          default:
            return undefined;
        }
      });
      assert.deepEqual(commandsMatching(fake, /__LeaveStreamsUnattached/), [
        'GETCONF __LeaveStreamsUnattached',
        'SETCONF __LeaveStreamsUnattached="1"',
      ]);
      fake.event('STREAM 60 NEW 0 mine.example:443 SOURCE_ADDR=127.0.0.1:5000 PURPOSE=USER');
      fake.event('STREAM 60 CONTROLLER_WAIT 0 mine.example:443');
      fake.event('STREAM 61 NEW 0 other.example:80 SOURCE_ADDR=127.0.0.1:5001 PURPOSE=USER');
      fake.event('STREAM 61 CONTROLLER_WAIT 0 other.example:80');
      fake.event('STREAM 62 NEW 0 refuse.example:80 SOURCE_ADDR=127.0.0.1:5002 PURPOSE=USER');
      fake.event('STREAM 62 CONTROLLER_WAIT 0 refuse.example:80');
      fake.event('STREAM 63 NEW 0 abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion:80 SOURCE_ADDR=127.0.0.1:5003');
      // tor's own directory stream: NEW, then attached by tor at once; never the attacher's.
      fake.event('STREAM 68 NEW 0 127.0.0.1.$0123456789ABCDEF0123456789ABCDEF01234567.exit:9030 PURPOSE=DIR_FETCH');
      fake.event('STREAM 68 SENTCONNECT 11 127.0.0.1.$0123456789ABCDEF0123456789ABCDEF01234567.exit:9030');
      fake.event('STREAM 64 NEWRESOLVE 0 byid.example:0 SOURCE_ADDR=127.0.0.1:5004 PURPOSE=DNS_REQUEST');
      fake.event('STREAM 64 CONTROLLER_WAIT 0 byid.example:0');
      fake.event('CIRC 90 LAUNCHED');
      fake.event('STREAM 65 NEW 0 later.example:80 SOURCE_ADDR=127.0.0.1:5005 PURPOSE=USER');
      fake.event('STREAM 65 CONTROLLER_WAIT 0 later.example:80');
      fake.event('STREAM 66 NEW 0 broken.example:80 SOURCE_ADDR=127.0.0.1:5006 PURPOSE=USER');
      fake.event('STREAM 66 CONTROLLER_WAIT 0 broken.example:80');
      // The onion stream's descriptor arrived: now tor waits for us.
      fake.event('STREAM 63 CONTROLLER_WAIT 0 abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion:80');
      await fake.waitForCommand(/^ATTACHSTREAM 64 /);
      await fake.waitForCommand(/^CLOSESTREAM 66 /);
      assert.equal(commandsMatching(fake, /^ATTACHSTREAM 65 /).length, 0, 'waits for circuit 90 to be built');
      fake.event(`CIRC 90 BUILT ${PATH3}`);
      await fake.waitForCommand(/^ATTACHSTREAM 65 /);
      assert.deepEqual(commandsMatching(fake, /^(ATTACHSTREAM|CLOSESTREAM)/).sort(), [
        'ATTACHSTREAM 60 11',
        'ATTACHSTREAM 61 0',
        'ATTACHSTREAM 63 0',
        'ATTACHSTREAM 64 11',
        'ATTACHSTREAM 65 90',
        'ATTACHSTREAM 66 11',
        'CLOSESTREAM 62 1',
        'CLOSESTREAM 66 1',
      ]);
      assert.deepEqual(asked, ['60', '61', '62', '64', '65', '66'], 'once per stream; never for .onion or tor\'s own');

      await state.setAttacher(null);
      assert.equal(commandsMatching(fake, /^SETCONF/).at(-1), 'SETCONF __LeaveStreamsUnattached="0"');
      fake.event('STREAM 67 NEW 0 after.example:80 SOURCE_ADDR=127.0.0.1:5007');
      await sync(harness!);
      assert.equal(commandsMatching(fake, /^ATTACHSTREAM 67/).length, 0, 'tor attaches streams itself again');
    });

    it('hands a DETACHED stream to the attacher again', async () => {
      const { fake, state } = await setup();
      fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
      let calls = 0;
      await state.setAttacher(() => {
        calls++;
        return state.circuits.get('11');
      });
      fake.event('STREAM 70 NEW 0 x.example:80 SOURCE_ADDR=127.0.0.1:5000');
      fake.event('STREAM 70 CONTROLLER_WAIT 0 x.example:80');
      await fake.waitForCommand(/^ATTACHSTREAM 70 11/);
      fake.event('STREAM 70 SENTCONNECT 11 x.example:80');
      fake.event('STREAM 70 DETACHED 11 x.example:80 REASON=TIMEOUT');
      fake.event('STREAM 70 CONTROLLER_WAIT 0 x.example:80');
      await fake.waitForCommand(/^ATTACHSTREAM 70 11/, 2);
      assert.equal(calls, 2);
      assert.equal(commandsMatching(fake, /^ATTACHSTREAM 70 11/).length, 2);
    });

    it('leaves __LeaveStreamsUnattached alone when it was already 1', async () => {
      const { fake, state } = await setup({ before: (f) => f.conf.set('__LeaveStreamsUnattached', '1') });
      await state.setAttacher(() => undefined);
      await state.setAttacher(null);
      await state.close();
      assert.deepEqual(commandsMatching(fake, /^SETCONF/), []);
    });

    it('shares __LeaveStreamsUnattached with another state on the same connection: the last one done resets it', async () => {
      const { fake, state, control } = await setup();
      const other = await TorState.create(control);
      try {
        await state.setAttacher(() => undefined);
        await other.setAttacher(() => undefined);
        await state.setAttacher(null);
        assert.equal(fake.conf.get('__LeaveStreamsUnattached'), '1', 'the other state still attaches');
        await state.setAttacher(() => undefined);
        await state.close();
        assert.equal(fake.conf.get('__LeaveStreamsUnattached'), '1');
        await other.setAttacher(null);
        assert.equal(fake.conf.get('__LeaveStreamsUnattached'), '0');
        assert.deepEqual(commandsMatching(fake, /__LeaveStreamsUnattached/), [
          'GETCONF __LeaveStreamsUnattached',
          'SETCONF __LeaveStreamsUnattached="1"',
          'SETCONF __LeaveStreamsUnattached="0"',
        ]);
      } finally {
        await other.close();
      }
    });

    it('sets __LeaveStreamsUnattached again when another controller puts it back while an attacher is set, and restores what it found (found by QA)', async () => {
      // Another connection's state that had set it releases it (or any controller turns it off):
      // tor then never handed this state a stream again, and nothing said so.
      const { fake, state, control } = await setup({ before: (f) => f.conf.set('__LeaveStreamsUnattached', '1') });
      await state.setAttacher(() => undefined);
      assert.deepEqual(commandsMatching(fake, /^SETCONF/), [], 'it was 1 already: not ours to set');
      await waitUntil(() => commandsMatching(fake, /^SETEVENTS .*CONF_CHANGED/).length > 0, 'CONF_CHANGED watched');
      await sync({ fake, control, state });
      fake.conf.set('__LeaveStreamsUnattached', '0');
      fake.rawEvent('650-CONF_CHANGED\r\n650-__LeaveStreamsUnattached=0\r\n650 OK\r\n');
      await waitUntil(() => fake.conf.get('__LeaveStreamsUnattached') === '1', 'the setting made 1 again');
      await state.setAttacher(null);
      assert.equal(fake.conf.get('__LeaveStreamsUnattached'), '0', 'the value found when it was turned off is put back');
      // Without an attacher, a change is no business of this state's.
      fake.rawEvent('650-CONF_CHANGED\r\n650-__LeaveStreamsUnattached\r\n650 OK\r\n');
      await sync({ fake, control, state });
      assert.deepEqual(commandsMatching(fake, /^SETCONF/), ['SETCONF __LeaveStreamsUnattached="1"', 'SETCONF __LeaveStreamsUnattached="0"']);
    });

    it('an event older than a value set since changes nothing: the setting is asked again first', async () => {
      const { fake, state, control } = await setup();
      await state.setAttacher(() => undefined);
      assert.equal(fake.conf.get('__LeaveStreamsUnattached'), '1');
      await waitUntil(() => commandsMatching(fake, /^SETEVENTS .*CONF_CHANGED/).length > 0, 'CONF_CHANGED watched');
      await sync({ fake, control, state });
      fake.rawEvent('650-CONF_CHANGED\r\n650-__LeaveStreamsUnattached=0\r\n650 OK\r\n');
      await waitUntil(() => commandsMatching(fake, /^GETCONF __LeaveStreamsUnattached/).length === 2, 'the setting asked again');
      await state.setAttacher(null);
      assert.deepEqual(commandsMatching(fake, /^SETCONF/), ['SETCONF __LeaveStreamsUnattached="1"', 'SETCONF __LeaveStreamsUnattached="0"']);
    });

    it('reports an attacher that throws or rejects, or picks a circuit that cannot be used, through listenerError', async () => {
      const { fake, state } = await setup();
      fake.handle(/^CLOSESTREAM/, () => ['250 OK']);
      fake.handle(/^ATTACHSTREAM 94 /, () => ["551 Can't attach stream to this one-hop circuit."]);
      const reported: Array<[unknown, string]> = [];
      state.on('listenerError', (err, where) => void reported.push([err, where]));
      const boom = new Error('attacher bug');
      const choices: Record<string, () => unknown> = {
        '90': () => {
          throw boom;
        },
        '91': () => Promise.reject(boom),
        '92': () => '999',
        '93': () => ({ id: '11' }),
        '94': () => state.circuits.get('11'),
        '95': () => 11,
      };
      await state.setAttacher((st) => choices[st.id]!() as never);
      for (const id of Object.keys(choices)) {
        fake.event(`STREAM ${id} NEW 0 x.example:80 SOURCE_ADDR=127.0.0.1:9${id} PURPOSE=USER`);
        fake.event(`STREAM ${id} CONTROLLER_WAIT 0 x.example:80`);
        await fake.waitForCommand(new RegExp(`^CLOSESTREAM ${id} 1`));
      }
      assert.equal(reported.length, 6);
      assert.ok(reported.every(([, where]) => where === 'attacher'));
      assert.equal(reported[0]![0], boom);
      assert.equal(reported[1]![0], boom);
      const [unknown, notACircuit, refused, aNumber] = reported.slice(2).map(([e]) => e);
      assert.ok(unknown instanceof TorCircuitError && /999/.test(unknown.message), String(unknown));
      // Circuit 11 exists: the message says what was wrong with the answer, not that no such circuit is known.
      for (const wrong of [notACircuit, aNumber]) {
        assert.ok(wrong instanceof TorCircuitError && /not a Circuit or a circuit id string/.test(wrong.message), String(wrong));
        assert.ok(!/does not know/.test(wrong.message), String(wrong));
      }
      assert.match((aNumber as Error).message, /the number 11/);
      assert.ok(refused instanceof TorCircuitError && refused.cause instanceof TorControlError && refused.cause.status === 551, String(refused));
    });

    it('hands a stream back to tor when the state closes while its attacher decides (tor would not retry it)', async () => {
      const { fake, state } = await setup();
      fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
      let decide!: (c: Circuit | undefined) => void;
      await state.setAttacher(() => new Promise<Circuit | undefined>((resolve) => (decide = resolve)));
      fake.event('STREAM 95 NEW 0 x.example:80 SOURCE_ADDR=127.0.0.1:95 PURPOSE=USER');
      fake.event('STREAM 95 CONTROLLER_WAIT 0 x.example:80');
      await sync(harness!);
      const circuit = state.circuits.get('11')!;
      await state.close();
      decide(circuit);
      await fake.waitForCommand(/^ATTACHSTREAM 95 /);
      assert.deepEqual(commandsMatching(fake, /^ATTACHSTREAM/), ['ATTACHSTREAM 95 0']);
    });

    it('hands the streams still waiting for an attacher that never answers back to tor when the state closes, and only those', async () => {
      const { fake, state } = await setup();
      fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
      const asked: string[] = [];
      await state.setAttacher((stream) => {
        asked.push(stream.id);
        return new Promise<never>(() => undefined);
      });
      for (const id of ['96', '97', '98']) {
        fake.event(`STREAM ${id} NEW 0 x.example:80 SOURCE_ADDR=127.0.0.1:${id} PURPOSE=USER`);
        fake.event(`STREAM ${id} CONTROLLER_WAIT 0 x.example:80`);
      }
      // Meanwhile another controller attached 97, and 98's client went away.
      fake.event('STREAM 97 SENTCONNECT 11 x.example:80');
      fake.event('STREAM 98 CLOSED 0 x.example:80 REASON=END');
      await sync(harness!);
      assert.deepEqual(asked, ['96', '97', '98']);
      await state.close();
      assert.deepEqual(commandsMatching(fake, /^ATTACHSTREAM/), ['ATTACHSTREAM 96 0']);
    });

    /** Lets every promise continuation run (an answer the state would act on goes out), then waits for tor's reply to a later command. */
    async function drain(h: Harness): Promise<void> {
      await new Promise((resolve) => setImmediate(resolve));
      await sync(h);
    }

    /** tor announces streams `ids`, each waiting for a controller. */
    function waitingStreams(fake: FakeControlServer, ids: readonly string[]): void {
      for (const id of ids) {
        fake.event(`STREAM ${id} NEW 0 x.example:80 SOURCE_ADDR=127.0.0.1:${id} PURPOSE=USER`);
        fake.event(`STREAM ${id} CONTROLLER_WAIT 0 x.example:80`);
      }
    }

    it('hands the streams its attacher has not answered back to tor at once when the attacher is cleared, and ignores its later answer', async () => {
      const { fake, state } = await setup();
      fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
      const decide = new Map<string, (c: Circuit | undefined) => void>();
      await state.setAttacher((stream) => new Promise<Circuit | undefined>((resolve) => decide.set(stream.id, resolve)));
      waitingStreams(fake, ['110', '111']);
      fake.event('STREAM 111 SENTCONNECT 11 x.example:80'); // another controller attached it meanwhile
      await sync(harness!);
      assert.deepEqual([...decide.keys()], ['110', '111']);
      // Before the fix nothing was sent: tor kept stream 110 waiting (for its two minutes), and
      // with __LeaveStreamsUnattached back to 0 nobody else would answer it.
      await state.setAttacher(null);
      assert.deepEqual(commandsMatching(fake, /^ATTACHSTREAM/), ['ATTACHSTREAM 110 0']);
      assert.equal(commandsMatching(fake, /^SETCONF/).at(-1), 'SETCONF __LeaveStreamsUnattached="0"');
      for (const answer of decide.values()) answer(state.circuits.get('11'));
      await drain(harness!);
      assert.deepEqual(commandsMatching(fake, /^(ATTACHSTREAM|CLOSESTREAM)/), ['ATTACHSTREAM 110 0']);
    });

    it('asks a new attacher about the streams the one it replaced has not answered, and ignores the old answer', async () => {
      const { fake, state } = await setup();
      fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
      fake.event(`CIRC 12 BUILT ${PATH3} PURPOSE=GENERAL`);
      const decideOld = new Map<string, (c: Circuit | undefined) => void>();
      const old = (stream: Stream) => new Promise<Circuit | undefined>((resolve) => decideOld.set(stream.id, resolve));
      await state.setAttacher(old);
      waitingStreams(fake, ['112', '113']);
      await sync(harness!);
      // Set again: the same attacher, still deciding; nothing changes for it.
      await state.setAttacher(old);
      decideOld.get('112')!(state.circuits.get('12'));
      await fake.waitForCommand(/^ATTACHSTREAM 112 /);
      const asked: string[] = [];
      await state.setAttacher((stream) => {
        asked.push(stream.id);
        return state.circuits.get('11');
      });
      // Before the fix the new attacher was never asked about 113, and the old one's answer went to tor.
      assert.deepEqual(asked, ['113']);
      decideOld.get('113')!(state.circuits.get('12'));
      await drain(harness!);
      assert.deepEqual(commandsMatching(fake, /^(ATTACHSTREAM|CLOSESTREAM)/), ['ATTACHSTREAM 112 12', 'ATTACHSTREAM 113 11']);
      assert.equal(fake.conf.get('__LeaveStreamsUnattached'), '1');
    });

    it('forgets a stream tor closed while the attacher decides (tor gives up on a wait after two minutes)', async () => {
      const { fake, state } = await setup();
      fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
      let decide!: (c: Circuit | undefined) => void;
      await state.setAttacher(() => new Promise<Circuit | undefined>((resolve) => (decide = resolve)));
      waitingStreams(fake, ['114']);
      // tor's SocksTimeout ran out: it answers the client with TTL expired and closes the stream.
      fake.event('STREAM 114 CLOSED 0 x.example:80 REASON=TIMEOUT');
      await sync(harness!);
      // Before the fix the closed stream stayed in this set for as long as the state lived.
      const undecided = (state as unknown as { undecided: { size: number } }).undecided;
      assert.equal(undecided.size, 0);
      decide(state.circuits.get('11'));
      await drain(harness!);
      assert.deepEqual(commandsMatching(fake, /^(ATTACHSTREAM|CLOSESTREAM)/), []);
    });

    it('answers only the latest wait of a stream that waits again while the attacher still decides about its first one', async () => {
      const { fake, state } = await setup();
      fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
      fake.event(`CIRC 12 BUILT ${PATH3} PURPOSE=GENERAL`);
      const decide: Array<(c: Circuit | undefined) => void> = [];
      await state.setAttacher(() => new Promise<Circuit | undefined>((resolve) => decide.push(resolve)));
      waitingStreams(fake, ['140']);
      // Another controller attached it, tor detached it, and it waits again.
      fake.event('STREAM 140 SENTCONNECT 12 x.example:80');
      fake.event('STREAM 140 DETACHED 12 x.example:80 REASON=TIMEOUT');
      fake.event('STREAM 140 CONTROLLER_WAIT 0 x.example:80');
      await sync(harness!);
      assert.equal(decide.length, 2);
      decide[0]!(state.circuits.get('12'));
      decide[1]!(state.circuits.get('11'));
      await drain(harness!);
      // Before: the first answer, for a wait that was over, went to tor (and the second was ignored).
      assert.deepEqual(commandsMatching(fake, /^ATTACHSTREAM/), ['ATTACHSTREAM 140 11']);
    });

    it('reports nothing when the client gave up on its stream just as the attacher answered (tor answers 552 Unknown stream), whichever of the CLOSED event and the reply comes first', async () => {
      const { fake, state } = await setup();
      fake.handle(/^CLOSESTREAM/, () => ['250 OK']);
      // The CLOSED event before the reply (tor closed the stream before it read ATTACHSTREAM) ...
      fake.handle(/^ATTACHSTREAM 115 /, () => {
        fake.event('STREAM 115 CLOSED 0 x.example:80 REASON=DONE');
        return ['552 Unknown stream "115"'];
      });
      // ... or after it (tor had only marked the stream for close when it read ATTACHSTREAM).
      fake.handle(/^ATTACHSTREAM 116 /, () => {
        setImmediate(() => fake.event('STREAM 116 CLOSED 0 x.example:80 REASON=DONE'));
        return ['552 Unknown stream "116"'];
      });
      const reported: unknown[] = [];
      state.on('listenerError', (err) => void reported.push(err));
      const closed = new Set<string>();
      const bothClosed = new Promise<void>((resolve) => state.on('streamClosed', (st) => void (closed.add(st.id).size === 2 && resolve())));
      await state.setAttacher(() => state.circuits.get('11'));
      waitingStreams(fake, ['115', '116']);
      await bothClosed;
      await drain(harness!);
      // Before the fix: "the attacher's circuit 11 could not take stream 115", 552 as its cause.
      assert.deepEqual(reported.map(String), []);
      assert.deepEqual(commandsMatching(fake, /^CLOSESTREAM/), [], 'nothing left to close');
    });

    it("reports an attacher's circuit that fails before it is built, unless the stream's client gave up meanwhile", async () => {
      const { fake, state } = await setup();
      fake.handle(/^(ATTACHSTREAM|CLOSESTREAM)/, () => ['250 OK']);
      fake.event('CIRC 91 LAUNCHED');
      fake.event('CIRC 92 LAUNCHED');
      const reported: unknown[] = [];
      state.on('listenerError', (err) => void reported.push(err));
      await state.setAttacher((stream) => (stream.id === '120' ? '91' : '92'));
      waitingStreams(fake, ['120', '121']);
      await sync(harness!);
      // 120 still waits when its circuit fails: the attacher's choice could not be used.
      fake.event('CIRC 91 FAILED REASON=TIMEOUT');
      await fake.waitForCommand(/^CLOSESTREAM 120 /);
      // 121's client left first: nothing was lost to the circuit.
      fake.event('STREAM 121 CLOSED 0 x.example:80 REASON=DONE');
      fake.event('CIRC 92 FAILED REASON=TIMEOUT');
      await drain(harness!);
      assert.equal(reported.length, 1, reported.map(String).join('; '));
      const err = reported[0];
      assert.ok(err instanceof TorCircuitError && err.circuitId === '91' && err.cause instanceof TorCircuitError, String(err));
      assert.equal(err.cause.reason, 'TIMEOUT');
      assert.deepEqual(commandsMatching(fake, /^(ATTACHSTREAM|CLOSESTREAM)/), ['CLOSESTREAM 120 1']);
    });

    it('refuses an onion-service protocol circuit (introduction, rendezvous, HSDir) for a stream to an address, at once, attacher or pin', async () => {
      const { fake, state } = await setup();
      fake.handle(/^(ATTACHSTREAM|CLOSESTREAM)/, () => ['250 OK']);
      fake.event(`CIRC 50 BUILT ${PATH3} PURPOSE=HS_SERVICE_INTRO HS_STATE=HSSI_ESTABLISHED`);
      await sync(harness!);
      const intro = state.circuits.get('50')!;
      const reported: unknown[] = [];
      state.on('listenerError', (err) => void reported.push(err));
      await state.setAttacher(() => intro);
      fake.event('STREAM 99 NEW 0 127.0.0.1:80 SOURCE_ADDR=127.0.0.1:99 PURPOSE=USER');
      fake.event('STREAM 99 CONTROLLER_WAIT 0 127.0.0.1:80');
      // tor would take the ATTACHSTREAM, and the stream would go nowhere.
      await fake.waitForCommand(/^CLOSESTREAM 99 /);
      assert.deepEqual(commandsMatching(fake, /^ATTACHSTREAM/), []);
      assert.equal(reported.length, 1);
      const err = reported[0];
      assert.ok(err instanceof TorCircuitError && err.circuitId === '50' && /HS_SERVICE_INTRO/.test(err.message), String(err));
      await state.setAttacher(null);
      let opened = false;
      const open = async () => {
        opened = true;
        return 'opened';
      };
      for (const circuit of [intro, '50']) {
        await assert.rejects(state.connectVia(circuit, open), (e: unknown) => e instanceof TorCircuitError && /HS_SERVICE_INTRO/.test(e.message));
      }
      assert.equal(opened, false);
    });

    it('refuses a circuit tor keeps for itself (HS_VANGUARDS, CONFLUX_UNLINKED, ...) at once, and takes GENERAL, CONTROLLER and CONFLUX_LINKED ones', async () => {
      const { fake, state } = await setup();
      const internal = ['HS_VANGUARDS', 'CONFLUX_UNLINKED', 'CIRCUIT_PADDING', 'MEASURE_TIMEOUT', 'PATH_BIAS_TESTING', 'TESTING'];
      internal.forEach((purpose, i) => fake.event(`CIRC ${60 + i} BUILT ${PATH3} BUILD_FLAGS=IS_INTERNAL PURPOSE=${purpose}`));
      await sync(harness!);
      let opened = 0;
      const open = async () => {
        opened++;
        return 'opened';
      };
      for (let i = 0; i < internal.length; i++) {
        const purpose = internal[i]!;
        await assert.rejects(
          state.connectVia(String(60 + i), open),
          (e: unknown) => e instanceof TorCircuitError && e.circuitId === String(60 + i) && e.message.includes(`is a ${purpose} circuit (`) && /not one for streams to addresses/.test(e.message),
        );
      }
      assert.equal(opened, 0);
      // The attacher's choice of one is refused the same way: the stream is closed, nothing attached.
      fake.handle(/^(ATTACHSTREAM|CLOSESTREAM)/, () => ['250 OK']);
      const reported: unknown[] = [];
      state.on('listenerError', (err) => void reported.push(err));
      await state.setAttacher(() => state.circuits.get('60'));
      fake.event('STREAM 98 NEW 0 127.0.0.1:80 SOURCE_ADDR=127.0.0.1:98 PURPOSE=USER');
      fake.event('STREAM 98 CONTROLLER_WAIT 0 127.0.0.1:80');
      await fake.waitForCommand(/^CLOSESTREAM 98 /);
      assert.deepEqual(commandsMatching(fake, /^ATTACHSTREAM/), []);
      assert.ok(reported.length === 1 && reported[0] instanceof TorCircuitError && /HS_VANGUARDS/.test(reported[0].message), String(reported[0]));
      // Purposes that carry streams, and one tor may add later, are not judged here.
      for (const purpose of ['GENERAL', 'CONTROLLER', 'CONFLUX_LINKED', 'SOMETHING_NEW']) {
        fake.event(`CIRC 70 BUILT ${PATH3} PURPOSE=${purpose}`);
        await sync(harness!);
        const c = state.circuits.get('70')!;
        assert.equal(c.purpose, purpose);
        assert.equal(streamlessCircuitRefusal(c), undefined, purpose);
      }
    });

    it('resets __LeaveStreamsUnattached when the state closes', async () => {
      const { fake, state } = await setup();
      await state.setAttacher(() => undefined);
      await state.close();
      assert.deepEqual(commandsMatching(fake, /^SETCONF/), ['SETCONF __LeaveStreamsUnattached="1"', 'SETCONF __LeaveStreamsUnattached="0"']);
      assert.equal(fake.conf.get('__LeaveStreamsUnattached'), '0');
    });
  });

  describe('connectVia', () => {
    let server: net.Server;
    let port: number;
    const accepted: net.Socket[] = [];
    beforeEach(async () => {
      server = net.createServer((s) => accepted.push(s));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as net.AddressInfo).port;
    });
    afterEach(async () => {
      for (const s of accepted.splice(0)) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    });

    /** Plays the SOCKS client: connects, registers, and has tor report the stream. */
    function opener(fake: FakeControlServer, streamId: string) {
      return async (beforeHandshake: (socket: net.Socket) => Promise<void>) => {
        const socket = net.connect(port, '127.0.0.1');
        await new Promise<void>((r) => socket.once('connect', () => r()));
        await beforeHandshake(socket);
        fake.event(`STREAM ${streamId} NEW 0 127.0.0.1:80 SOURCE_ADDR=127.0.0.1:${socket.localPort} PURPOSE=USER CLIENT_PROTOCOL=SOCKS5`);
        fake.event(`STREAM ${streamId} CONTROLLER_WAIT 0 127.0.0.1:80 CLIENT_PROTOCOL=SOCKS5`);
        await fake.waitForCommand(new RegExp(`^(ATTACHSTREAM|CLOSESTREAM) ${streamId} `));
        return socket;
      };
    }

    /**
     * `state.connectVia('11')` whose stream `pinnedId` comes while another client's stream `otherId`
     * waits too; resolves (with the pinned socket, destroyed) once the other stream was answered.
     */
    async function pinBeside(fake: FakeControlServer, state: TorState, otherId: string, pinnedId: string): Promise<net.Socket> {
      const socket = await state.connectVia('11', async (before) => {
        fake.event(`STREAM ${otherId} NEW 0 unrelated.example:80 SOURCE_ADDR=127.0.0.1:1 PURPOSE=USER`);
        fake.event(`STREAM ${otherId} CONTROLLER_WAIT 0 unrelated.example:80`);
        return opener(fake, pinnedId)(before);
      });
      socket.destroy();
      await fake.waitForCommand(new RegExp(`^ATTACHSTREAM ${otherId} `));
      return socket;
    }

    it('rejects with TorControlClosedError, opening nothing, when the state closes while tor takes __LeaveStreamsUnattached', async () => {
      const { fake, state } = await setup();
      let answer: (lines: string[]) => void = () => undefined;
      fake.handle(/^SETCONF __LeaveStreamsUnattached="1"/, () => new Promise<string[]>((resolve) => (answer = resolve)));
      let opened = false;
      const connecting = state.connectVia('11', async () => {
        opened = true;
        return 'opened';
      });
      await fake.waitForCommand(/^SETCONF __LeaveStreamsUnattached="1"/);
      const closing = state.close();
      answer(['250 OK']);
      // Before the fix `open` ran: its stream was pinned to the closed state, which answers nothing.
      await assert.rejects(connecting, TorControlClosedError);
      assert.equal(opened, false);
      await closing;
      assert.equal(commandsMatching(fake, /^SETCONF/).at(-1), 'SETCONF __LeaveStreamsUnattached="0"');
    });

    it('attaches the stream whose source is the opened socket to the circuit, and others back to tor', async () => {
      const { fake, state } = await setup();
      fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
      const socket = await pinBeside(fake, state, '72', '71');
      assert.deepEqual(commandsMatching(fake, /^ATTACHSTREAM/).sort(), ['ATTACHSTREAM 71 11', 'ATTACHSTREAM 72 0']);
      await fake.waitForCommand(/^SETCONF __LeaveStreamsUnattached="0"/);
      // The expectation is gone: a later stream from the same port is not pinned.
      await state.setAttacher(() => undefined);
      fake.event(`STREAM 73 NEW 0 127.0.0.1:80 SOURCE_ADDR=127.0.0.1:${socket.localPort} PURPOSE=USER`);
      fake.event('STREAM 73 CONTROLLER_WAIT 0 127.0.0.1:80');
      await fake.waitForCommand(/^ATTACHSTREAM 73 /);
      assert.ok(fake.commands.includes('ATTACHSTREAM 73 0'));
    });

    it('closes the stream when its circuit is gone', async () => {
      const { fake, state } = await setup();
      fake.handle(/^(ATTACHSTREAM|CLOSESTREAM)/, () => ['250 OK']);
      const circuit = state.circuits.get('11')!;
      await state.connectVia(circuit, async (before) => {
        fake.event(`CIRC 11 CLOSED ${PATH3} REASON=FINISHED`);
        await sync(harness!);
        return opener(fake, '74')(before);
      }).then((s) => s.destroy());
      assert.ok(fake.commands.includes('CLOSESTREAM 74 1'));
      assert.ok(!fake.commands.some((c) => c.startsWith('ATTACHSTREAM 74')));
    });

    it('says why when tor refuses to put the stream on the circuit: TorCircuitError, tor\'s reply as cause', async () => {
      const { fake, state } = await setup();
      fake.handle(/^ATTACHSTREAM 76 /, () => ["551 Can't attach stream to this one-hop circuit."]);
      fake.handle(/^CLOSESTREAM/, () => ['250 OK']);
      const socksFailure = new TorSocksError('TOR_SOCKS_GENERAL_FAILURE', 'general failure (SOCKS reply 0x01)', 1);
      const err = await state
        .connectVia('11', async (before) => {
          const socket = await opener(fake, '76')(before);
          // tor closes the stream: the SOCKS client sees only a general failure.
          await fake.waitForCommand(/^CLOSESTREAM 76 /);
          socket.destroy();
          throw socksFailure;
        })
        .catch((e: unknown) => e);
      assert.ok(err instanceof TorCircuitError, String(err));
      assert.equal(err.circuitId, '11');
      assert.ok(err.cause instanceof TorControlError && err.cause.status === 551, String(err.cause));
      assert.match(err.message, /one-hop/);
    });

    it('does not try the same exit again once it could not resolve the name or refused it by policy: TorCircuitError saying so', async () => {
      // Seen on the test network: the second try on the same circuit waited for tor's stream
      // timeout (10 s and more, three tries) where the first had failed in 2 s.
      const cases: Array<[string, string, RegExp]> = [
        ['77', 'RESOLVEFAILED', /exit of circuit 11 could not resolve 127\.0\.0\.1 \(REMOTE_REASON=RESOLVEFAILED\)/],
        ['78', 'EXITPOLICY', /exit of circuit 11 does not allow 127\.0\.0\.1:80 by its exit policy/],
      ];
      for (const [id, remoteReason, message] of cases) {
        const { fake, state } = await setup();
        fake.handle(/^(ATTACHSTREAM|CLOSESTREAM)/, () => ['250 OK']);
        const socksFailure = new TorSocksError('TOR_SOCKS_GENERAL_FAILURE', 'general failure (SOCKS reply 0x01)', 1);
        const err = await state
          .connectVia('11', async (before) => {
            const socket = await opener(fake, id)(before);
            fake.event(`STREAM ${id} DETACHED 11 127.0.0.1:80 REASON=END REMOTE_REASON=${remoteReason}`);
            fake.event(`STREAM ${id} CONTROLLER_WAIT 11 127.0.0.1:80`);
            await fake.waitForCommand(new RegExp(`^CLOSESTREAM ${id} `));
            socket.destroy();
            throw socksFailure;
          })
          .catch((e: unknown) => e);
        assert.ok(err instanceof TorCircuitError, `${remoteReason}: ${String(err)}`);
        assert.match(err.message, message);
        assert.deepEqual(commandsMatching(fake, new RegExp(`^ATTACHSTREAM ${id} `)), [`ATTACHSTREAM ${id} 11`], `${remoteReason}: attached again`);
        // The next case gets a harness of its own; afterEach closes only the last one.
        const h = harness!;
        harness = undefined;
        await h.state.close();
        await h.control.close();
        await h.fake.close();
      }
    });

    /** tor's SOCKS reply to a stream it ended: what the SOCKS client makes of reply byte `reply`. */
    const socksReply = (reply: number) => new TorSocksError('TOR_SOCKS_GENERAL_FAILURE', `SOCKS reply 0x0${reply}`, reply);

    it("gives the caller its own error when its pinned stream closed just as it was attached (tor answers 552 Unknown stream), not the 552", async () => {
      const { fake, state } = await setup();
      fake.handle(/^CLOSESTREAM/, () => ['250 OK']);
      // The caller's SOCKS client gave up (its timeout) and closed the connection: tor closed the
      // stream before it read our ATTACHSTREAM.
      fake.handle(/^ATTACHSTREAM 118 /, () => {
        fake.event('STREAM 118 CLOSED 0 127.0.0.1:80 REASON=DONE');
        return ['552 Unknown stream "118"'];
      });
      // tor gave up on the stream itself (its SocksTimeout) and told the client so; the CLOSED
      // event comes after the reply here.
      fake.handle(/^ATTACHSTREAM 119 /, () => {
        setImmediate(() => fake.event('STREAM 119 CLOSED 0 127.0.0.1:80 REASON=TIMEOUT'));
        return ['552 Unknown stream "119"'];
      });
      const timeout = new TorTimeoutError('connect to 127.0.0.1:80 through tor', 5000);
      const first = await state
        .connectVia('11', async (before) => {
          (await opener(fake, '118')(before)).destroy();
          // Its failure reaches connectVia after tor's reply.
          await sync(harness!);
          throw timeout;
        })
        .catch((e: unknown) => e);
      // Before the fix: a TorCircuitError "the stream could not use circuit 11", 552 as its cause.
      assert.equal(first, timeout);
      const ttl = new TorSocksError('TOR_SOCKS_TTL_EXPIRED', 'TTL expired (SOCKS reply 0x06)', 6);
      const second = await state
        .connectVia('11', async (before) => {
          (await opener(fake, '119')(before)).destroy();
          throw ttl;
        })
        .catch((e: unknown) => e);
      assert.ok(second instanceof TorCircuitError && second.cause === ttl, String(second));
      assert.equal(second.reason, 'TIMEOUT', second.message);
      assert.match(second.message, /timed out \(REASON=TIMEOUT\)$/);
      assert.deepEqual(commandsMatching(fake, /^CLOSESTREAM/), []);
    });

    it("names tor's REASON and REMOTE_REASON when tor ends the pinned stream any other way: TorCircuitError, the SOCKS error as cause", async () => {
      const { fake, state } = await setup();
      fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
      // [stream id, the stream's last event after ATTACHSTREAM, tor's SOCKS reply byte, message, reason, remoteReason]
      const cases: Array<[string, string, number, RegExp, string, string | undefined]> = [
        ['90', 'FAILED 11 127.0.0.1:80 REASON=END REMOTE_REASON=CONNECTREFUSED', 5, /the target refused the connection \(REASON=END REMOTE_REASON=CONNECTREFUSED\)/, 'END', 'CONNECTREFUSED'],
        ['91', 'FAILED 11 127.0.0.1:80 REASON=END REMOTE_REASON=TIMEOUT', 6, /timed out \(REASON=END REMOTE_REASON=TIMEOUT\)/, 'END', 'TIMEOUT'],
        ['92', 'FAILED 11 127.0.0.1:80 REASON=END REMOTE_REASON=MISC', 1, /unspecified failure \(REASON=END REMOTE_REASON=MISC\)/, 'END', 'MISC'],
        ['93', 'FAILED 11 127.0.0.1:80 REASON=END REMOTE_REASON=TORPROTOCOL', 1, /protocol violation \(REASON=END REMOTE_REASON=TORPROTOCOL\)/, 'END', 'TORPROTOCOL'],
        ['94', 'FAILED 11 127.0.0.1:80 REASON=END REMOTE_REASON=HIBERNATING', 1, /hibernating \(REASON=END REMOTE_REASON=HIBERNATING\)/, 'END', 'HIBERNATING'],
        ['95', 'FAILED 11 127.0.0.1:80 REASON=END REMOTE_REASON=RESOURCELIMIT', 1, /out of resources \(REASON=END REMOTE_REASON=RESOURCELIMIT\)/, 'END', 'RESOURCELIMIT'],
        ['96', 'FAILED 11 127.0.0.1:80 REASON=END REMOTE_REASON=INTERNAL', 1, /internal error of the relay \(REASON=END REMOTE_REASON=INTERNAL\)/, 'END', 'INTERNAL'],
        ['97', 'FAILED 11 127.0.0.1:80 REASON=END REMOTE_REASON=CONNRESET', 1, /reset \(REASON=END REMOTE_REASON=CONNRESET\)/, 'END', 'CONNRESET'],
        ['98', 'FAILED 11 127.0.0.1:80 REASON=END REMOTE_REASON=NOTDIRECTORY', 1, /not a directory \(REASON=END REMOTE_REASON=NOTDIRECTORY\)/, 'END', 'NOTDIRECTORY'],
        ['99', 'FAILED 11 127.0.0.1:80 REASON=DESTROY', 1, /circuit was destroyed \(REASON=DESTROY\)$/, 'DESTROY', undefined],
        ['100', 'FAILED 11 127.0.0.1:80 REASON=TIMEOUT', 6, /timed out \(REASON=TIMEOUT\)$/, 'TIMEOUT', undefined],
        ['101', 'CLOSED 11 127.0.0.1:80 REASON=MISC', 1, /unspecified failure \(REASON=MISC\)$/, 'MISC', undefined],
        ['102', 'FAILED 11 127.0.0.1:80 REASON=END REMOTE_REASON=NEWREASON', 1, /a reason torcon does not know \(REASON=END REMOTE_REASON=NEWREASON\)/, 'END', 'NEWREASON'],
      ];
      for (const [i, [id, ending, reply, message, reason, remoteReason]] of cases.entries()) {
        // tor sends the event before its SOCKS reply, but on the control connection: either may
        // come first. Every other case has the event come after the SOCKS client failed.
        const eventLast = i % 2 === 1;
        const failure = socksReply(reply);
        const err = await state
          .connectVia('11', async (before) => {
            await opener(fake, id)(before);
            fake.event(`STREAM ${id} SENTCONNECT 11 127.0.0.1:80`);
            if (eventLast) setImmediate(() => fake.event(`STREAM ${id} ${ending}`));
            else {
              fake.event(`STREAM ${id} ${ending}`);
              await sync(harness!);
            }
            throw failure;
          })
          .catch((e: unknown) => e);
        assert.ok(err instanceof TorCircuitError, `${id}: ${String(err)}`);
        assert.match(err.message, /^the stream to 127\.0\.0\.1:80 over circuit 11 failed: /, id);
        assert.match(err.message, message, id);
        assert.equal(err.circuitId, '11');
        assert.equal(err.reason, reason, id);
        assert.equal(err.remoteReason, remoteReason, id);
        assert.equal(err.cause, failure, id);
      }
      // None of them was closed or attached again by the state: tor had ended them.
      assert.deepEqual(commandsMatching(fake, /^CLOSESTREAM/), []);
      assert.equal(commandsMatching(fake, /^ATTACHSTREAM/).length, cases.length);
    });

    it('a pinned stream that FAILED with an exit refusal (not DETACHED first) says so, with the reasons', async () => {
      const { fake, state } = await setup();
      fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
      const failure = socksReply(4);
      const err = await state
        .connectVia('11', async (before) => {
          await opener(fake, '103')(before);
          fake.event('STREAM 103 FAILED 11 127.0.0.1:80 REASON=END REMOTE_REASON=RESOLVEFAILED');
          throw failure;
        })
        .catch((e: unknown) => e);
      assert.ok(err instanceof TorCircuitError, String(err));
      assert.match(err.message, /exit of circuit 11 could not resolve 127\.0\.0\.1 \(REMOTE_REASON=RESOLVEFAILED\)/);
      assert.deepEqual([err.reason, err.remoteReason, err.cause], ['END', 'RESOLVEFAILED', failure]);
    });

    it('gives up on a stream tor keeps detaching from the pinned circuit, naming the last reasons', async () => {
      const { fake, state } = await setup();
      fake.handle(/^(ATTACHSTREAM|CLOSESTREAM)/, () => ['250 OK']);
      const failure = socksReply(1);
      const err = await state
        .connectVia('11', async (before) => {
          const socket = await opener(fake, '106')(before);
          // What the test network's exits do for a closed port: END MISC, which tor retries.
          for (let attempt = 2; attempt <= 4; attempt++) {
            fake.event('STREAM 106 DETACHED 11 127.0.0.1:80 REASON=END REMOTE_REASON=MISC');
            fake.event('STREAM 106 CONTROLLER_WAIT 11 127.0.0.1:80');
            if (attempt <= 3) await fake.waitForCommand(/^ATTACHSTREAM 106 /, attempt);
          }
          await fake.waitForCommand(/^CLOSESTREAM 106 /);
          socket.destroy();
          throw failure;
        })
        .catch((e: unknown) => e);
      assert.ok(err instanceof TorCircuitError, String(err));
      assert.match(err.message, /tor kept detaching the stream from circuit 11, the last time for an unspecified failure \(REASON=END REMOTE_REASON=MISC\)/);
      assert.ok(err.cause instanceof TorCircuitError, String(err.cause));
      assert.deepEqual([err.cause.reason, err.cause.remoteReason], ['END', 'MISC']);
      assert.equal(commandsMatching(fake, /^ATTACHSTREAM 106 /).length, 3);
    });

    it("passes tor's SOCKS error through when no STREAM event says why (bounded wait), and other errors at once", async () => {
      const { fake, state } = await setup();
      fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
      const failure = socksReply(1);
      const err = await state
        .connectVia('11', async (before) => {
          await opener(fake, '104')(before);
          throw failure;
        })
        .catch((e: unknown) => e);
      assert.equal(err, failure);
      // The caller's abort or timeout stays what it is, even when tor has said why meanwhile.
      const aborted = new TorAbortError('connect');
      const err2 = await state
        .connectVia('11', async (before) => {
          await opener(fake, '105')(before);
          fake.event('STREAM 105 FAILED 11 127.0.0.1:80 REASON=END REMOTE_REASON=CONNECTREFUSED');
          await sync(harness!);
          throw aborted;
        })
        .catch((e: unknown) => e);
      assert.equal(err2, aborted);
    });

    it("tor.connect(target, { circuit }) through a SOCKS port: a stream tor ends is a TorCircuitError naming tor's reasons", async () => {
      let socks: FakeSocksServer | undefined;
      let control: FakeControlServer | undefined;
      socks = await startFakeSocksServer({
        answer: async () => {
          // The stream tor opens for the SOCKS request: its SOURCE_ADDR is the client's end.
          const port = socks!.connections.at(-1)!.remotePort;
          control!.event(`STREAM 110 NEW 0 127.0.0.1:80 SOURCE_ADDR=127.0.0.1:${port} PURPOSE=USER CLIENT_PROTOCOL=SOCKS5`);
          control!.event('STREAM 110 CONTROLLER_WAIT 0 127.0.0.1:80 CLIENT_PROTOCOL=SOCKS5');
          await control!.waitForCommand(/^ATTACHSTREAM 110 /);
          control!.event('STREAM 110 SENTCONNECT 11 127.0.0.1:80');
          control!.event('STREAM 110 FAILED 11 127.0.0.1:80 REASON=END REMOTE_REASON=CONNECTREFUSED');
          return { reply: 0x05 };
        },
      });
      try {
        const h = await setup({ info: { 'net/listeners/socks': `"127.0.0.1:${socks.port}"` } });
        control = h.fake;
        h.fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
        const tor = new Tor(h.control, { version: '0.4.9.1', controlEndpoint: h.fake.endpoint });
        const err = await tor.connect('127.0.0.1:80', { circuit: '11' }).catch((e: unknown) => e);
        const pinning = await tor.getState();
        await pinning.close();
        tor.socks.close();
        assert.ok(err instanceof TorCircuitError, String(err));
        assert.match(err.message, /stream to 127\.0\.0\.1:80 over circuit 11 failed: the target refused the connection \(REASON=END REMOTE_REASON=CONNECTREFUSED\)/);
        assert.deepEqual([err.reason, err.remoteReason], ['END', 'CONNECTREFUSED']);
        assert.ok(err.cause instanceof TorSocksError && err.cause.code === 'TOR_SOCKS_CONNECTION_REFUSED', String(err.cause));
      } finally {
        await socks.close();
      }
    });

    it('gives up waiting for a circuit not yet built on timeoutMs or signal, without opening anything', async () => {
      const { fake, state } = await setup();
      fake.event('CIRC 75 LAUNCHED');
      await sync(harness!);
      let opened = 0;
      const open = async () => ++opened;
      await assert.rejects(
        state.connectVia('75', open, { timeoutMs: 20 }),
        (e: unknown) => e instanceof TorCircuitError && e.circuitId === '75' && e.cause instanceof TorTimeoutError,
      );
      await assert.rejects(
        state.connectVia('75', open, { signal: AbortSignal.abort() }),
        (e: unknown) => e instanceof TorCircuitError && e.cause instanceof TorAbortError,
      );
      assert.equal(opened, 0);
      assert.deepEqual(commandsMatching(fake, /^SETCONF/), []);
    });

    it('tor.connect refuses a chosen circuit for an onion service before anything is sent', async () => {
      const { fake, control } = await setup();
      const tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
      const before = fake.commands.length;
      const onion = 'abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion';
      await assert.rejects(tor.connect(`${onion}:80`, { circuit: '11' }), TorInvalidValueError);
      await assert.rejects(tor.connect({ host: onion.toUpperCase() + '.', port: 80 }, { circuit: '11' }), TorInvalidValueError);
      assert.equal(fake.commands.length, before);
    });

    it('rejects unknown or closed circuits, and passes errors of open() through after cleaning up', async () => {
      const { fake, state } = await setup();
      await assert.rejects(state.connectVia('999', async () => 1), (e: unknown) => e instanceof TorCircuitError && e.circuitId === '999');
      assert.deepEqual(commandsMatching(fake, /^SETCONF/), []);
      const boom = new Error('socks failed');
      await assert.rejects(
        state.connectVia('11', async () => {
          throw boom;
        }),
        (e: unknown) => e === boom,
      );
      await fake.waitForCommand(/^SETCONF __LeaveStreamsUnattached="0"/);
      assert.deepEqual(commandsMatching(fake, /^SETCONF/), ['SETCONF __LeaveStreamsUnattached="1"', 'SETCONF __LeaveStreamsUnattached="0"']);
    });

    it('refuses a circuit that is neither a Circuit nor an id (nor a string an id could be), typed, before anything is sent', async () => {
      const { fake, state, control } = await setup();
      const tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
      const before = fake.commands.length;
      for (const bad of [123, {}, null, { id: '11' }, '', 'a b', '11\r\nSIGNAL HALT', '1'.repeat(17)]) {
        await assert.rejects(state.connectVia(bad as never, async () => 1), TorInvalidValueError);
        await assert.rejects(tor.connect('127.0.0.1:80', { circuit: bad as never }), TorInvalidValueError);
      }
      assert.equal(fake.commands.length, before);
    });

    describe('several states on one connection: one answer per waiting stream', () => {
      const extra: TorState[] = [];
      /** A second TorState on the harness's connection, closed after the test. */
      const secondState = async (control: TorControl) => {
        const other = await TorState.create(control);
        extra.push(other);
        return other;
      };
      afterEach(async () => {
        for (const other of extra.splice(0)) await other.close();
      });

      it("a stream pinned by one state goes to its circuit; another state's attacher gets only the others", async () => {
        const { fake, state, control } = await setup();
        fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
        const other = await secondState(control);
        fake.event('CIRC 12 BUILT ' + PATH3 + ' PURPOSE=GENERAL');
        await sync(harness!);
        const asked: string[] = [];
        await other.setAttacher((st) => {
          asked.push(st.id);
          return other.circuits.get('12');
        });
        await pinBeside(fake, state, '80', '81');
        await sync(harness!);
        assert.deepEqual(commandsMatching(fake, /^ATTACHSTREAM/).sort(), ['ATTACHSTREAM 80 12', 'ATTACHSTREAM 81 11']);
        assert.deepEqual(asked, ['80'], 'the attacher is not asked about the pinned stream');
      });

      it("the other way round: the attacher's state does not touch a stream another state pinned", async () => {
        const { fake, state, control } = await setup();
        fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
        const pinner = await secondState(control);
        let asked = 0;
        await state.setAttacher(() => {
          asked++;
          return undefined;
        });
        (await pinner.connectVia('11', opener(fake, '82'))).destroy();
        await sync(harness!);
        assert.deepEqual(commandsMatching(fake, /^ATTACHSTREAM/), ['ATTACHSTREAM 82 11']);
        assert.equal(asked, 0);
      });

      it("a state that just stopped attaching leaves streams to another state's attacher", async () => {
        const { fake, state, control } = await setup();
        fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
        (await state.connectVia('11', opener(fake, '83'))).destroy();
        await fake.waitForCommand(/^SETCONF __LeaveStreamsUnattached="0"/);
        const other = await secondState(control);
        await other.setAttacher(() => other.circuits.get('11'));
        fake.event('STREAM 84 NEW 0 x.example:80 SOURCE_ADDR=127.0.0.1:2 PURPOSE=USER');
        fake.event('STREAM 84 CONTROLLER_WAIT 0 x.example:80');
        await fake.waitForCommand(/^ATTACHSTREAM 84 /);
        await sync(harness!);
        assert.deepEqual(commandsMatching(fake, /^ATTACHSTREAM 84/), ['ATTACHSTREAM 84 11'], 'no ATTACHSTREAM 84 0 from the first state');
      });

      it('of two attachers the first set is asked, the second once the first is cleared', async () => {
        const { fake, state, control } = await setup();
        fake.handle(/^ATTACHSTREAM/, () => ['250 OK']);
        const other = await secondState(control);
        const asked: string[] = [];
        await state.setAttacher((st) => void asked.push(`first ${st.id}`));
        await other.setAttacher((st) => void asked.push(`second ${st.id}`));
        fake.event('STREAM 85 NEW 0 x.example:80 SOURCE_ADDR=127.0.0.1:3 PURPOSE=USER');
        fake.event('STREAM 85 CONTROLLER_WAIT 0 x.example:80');
        await fake.waitForCommand(/^ATTACHSTREAM 85 /);
        await state.setAttacher(null);
        fake.event('STREAM 86 NEW 0 x.example:80 SOURCE_ADDR=127.0.0.1:4 PURPOSE=USER');
        fake.event('STREAM 86 CONTROLLER_WAIT 0 x.example:80');
        await fake.waitForCommand(/^ATTACHSTREAM 86 /);
        await sync(harness!);
        assert.deepEqual(asked, ['first 85', 'second 86']);
        assert.deepEqual(commandsMatching(fake, /^ATTACHSTREAM/), ['ATTACHSTREAM 85 0', 'ATTACHSTREAM 86 0']);
      });
    });

  });

  describe('address map', () => {
    it('hides mappings once the injected clock passes their expiry, reporting each', async () => {
      let now = Date.UTC(2030, 0, 1, 12, 0, 0);
      const { fake, state } = await setup({
        state: { clock: () => new Date(now) },
        info: { 'address-mappings/all': 'old.example 192.0.2.9 "2030-01-01 11:00:00"\nforever.example 192.0.2.10 NEVER' },
      });
      const expired: string[] = [];
      state.on('addrmapExpired', (m) => expired.push(m.address));
      assert.equal(state.addressMap.has('old.example'), false, 'expired at load time');
      const added = once(state, 'addrmapAdded');
      fake.event('ADDRMAP www.example 192.0.2.1 "2030-01-01 13:01:00" EXPIRES="2030-01-01 12:01:00" CACHED="YES" STREAMID=4');
      const [m] = await added;
      assert.equal(m.newAddress, '192.0.2.1');
      assert.equal(m.expires?.toISOString(), '2030-01-01T12:01:00.000Z', 'EXPIRES (UTC) wins over the local-time field');
      assert.equal(state.addressMap.get('www.example'), m);
      now += 59_000;
      assert.equal(state.addressMap.size, 2);
      now += 2_000;
      assert.equal(state.addressMap.get('www.example'), undefined);
      assert.deepEqual([...state.addressMap.keys()], ['forever.example']);
      assert.deepEqual(expired, ['old.example', 'www.example']);
    });

    it('announces RESOLVE answers tor does not keep (CACHED="NO") without touching the map or expiring them', async () => {
      // As tor 0.4.9 sends it: MAPADDRESS a.example, then RESOLVE a.example answered from that map.
      const { fake, state } = await setup();
      const expired: string[] = [];
      state.on('addrmapExpired', (m) => expired.push(m.address));
      fake.event('ADDRMAP a.example 127.0.0.1 NEVER CACHED="YES"');
      await sync(harness!);
      const added = once(state, 'addrmapAdded');
      const past = '2020-01-01 00:00:00';
      fake.event(`ADDRMAP a.example 127.0.0.1 "${past}" EXPIRES="${past}" CACHED="NO" STREAMID=16`);
      const [answer] = await added;
      assert.equal(answer.cached, false);
      assert.equal(answer.expires?.toISOString(), '2020-01-01T00:00:00.000Z');
      await new Promise((r) => setTimeout(r, 20));
      const kept = state.addressMap.get('a.example');
      assert.equal(kept?.expires, null, 'the NEVER mapping tor keeps');
      assert.equal(kept?.cached, true);
      assert.deepEqual(expired, []);
    });

    it('refuses a clock, geoip or procRoot of the wrong kind, typed, on every call (they failed later with a bare TypeError, or not at all)', async () => {
      const { fake, control, state } = await setup();
      const bad: TorStateOptions[] = [
        { clock: 'now' as never },
        { clock: new Date() as never },
        { geoip: 5 as never },
        { geoip: {} as never },
        { geoip: { lookup: 'x' } as never },
        { procRoot: 5 as never },
        { procRoot: '' },
      ];
      const isBad = (e: unknown) => e instanceof TorInvalidValueError && /clock|geoip|procRoot/.test(e.message);
      const tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
      for (const opts of bad) {
        assert.throws(() => new TorState(control, opts), isBad, JSON.stringify(opts));
        await assert.rejects(TorState.create(control, opts), isBad, JSON.stringify(opts));
        if (!('procRoot' in opts)) await assert.rejects(tor.getState(opts), isBad, JSON.stringify(opts));
      }
      // Also once tor.getState() has a built state to hand out.
      const built = await tor.getState({ geoip: { lookup: async () => ({}) }, clock: () => new Date() });
      try {
        await assert.rejects(tor.getState({ geoip: 5 as never }), isBad);
        assert.equal(await tor.getState(), built);
      } finally {
        await built.close();
      }
      assert.ok(state.routers.size > 0);
    });

    it('takes a clock that gives epoch milliseconds (Date.now) as one that gives a Date; one that gives no time, as the system clock (the build failed with a bare TypeError)', async () => {
      const info = { 'address-mappings/all': 'old.example 192.0.2.9 "2030-01-01 11:00:00"' };
      const first = await setup({ info, state: { clock: () => Date.UTC(2030, 0, 1, 12, 0, 0) } });
      assert.equal(first.state.addressMap.get('old.example'), undefined, 'expired by the number the clock gave');
      await first.state.close();
      await first.control.close();
      await first.fake.close();
      const second = await setup({ info, state: { clock: () => new Date(Number.NaN) } });
      assert.equal(second.state.addressMap.get('old.example')?.newAddress, '192.0.2.9', 'by the system clock, 2030 is years away');
    });

    it('tor.getState passes the clock through', async () => {
      const { fake, control } = await setup({ info: { 'address-mappings/all': 'old.example 192.0.2.9 "2030-01-01 11:00:00"' } });
      const tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
      // Expired by the injected clock (by the system clock it is years away).
      const state = await tor.getState({ clock: () => new Date(Date.UTC(2030, 0, 1, 12, 0, 0)) });
      try {
        assert.equal(state.addressMap.get('old.example'), undefined);
      } finally {
        await state.close();
      }
    });

    it('expires mappings by itself (timer), without reads', async () => {
      const { fake, state } = await setup();
      const expiry = new Date(Date.now() + 300);
      const iso = expiry.toISOString().slice(0, 19).replace('T', ' ');
      const expired = once(state, 'addrmapExpired');
      fake.event(`ADDRMAP soon.example 192.0.2.1 "${iso}" EXPIRES="${iso}" CACHED="YES"`);
      const [m] = await expired;
      assert.equal(m.address, 'soon.example');
    });
  });

  describe('address map: ADDRMAP texts nobody listens for are read when the map is', () => {
    const NEVER_YES = 'NEVER CACHED="YES"';

    it('shows the last mapping of each address, and leaves a one-off answer (CACHED="NO") out', async () => {
      const { fake, state } = await setup();
      fake.event(`ADDRMAP a.example 192.0.2.1 ${NEVER_YES}`);
      fake.event(`ADDRMAP b.example 192.0.2.2 ${NEVER_YES}`);
      fake.event(`ADDRMAP a.example 192.0.2.3 ${NEVER_YES}`);
      fake.event('ADDRMAP b.example 192.0.2.9 "2020-01-01 00:00:00" EXPIRES="2020-01-01 00:00:00" CACHED="NO" STREAMID=3');
      await sync(harness!);
      assert.deepEqual(
        [...state.addressMap.values()].map((m) => `${m.address}=${m.newAddress}`),
        ['a.example=192.0.2.3', 'b.example=192.0.2.2'],
      );
    });

    it('applies the kept texts before a text in another form, so a malformed one leaves the earlier mapping, reported', async () => {
      const { fake, state } = await setup();
      fake.event(`ADDRMAP a.example 192.0.2.1 ${NEVER_YES}`);
      fake.event('ADDRMAP a.example 192.0.2.7 "2030-13-01 00:00:00"');
      await sync(harness!);
      const reports: string[] = [];
      state.on('malformedEvent', (err) => reports.push(err.message));
      fake.event('ADDRMAP a.example 192.0.2.8 "not a time"');
      await sync(harness!);
      assert.equal(state.addressMap.get('a.example')?.newAddress, '192.0.2.1');
      assert.equal(reports.length, 1, 'the last one, reported as it came (a listener is there)');
    });

    it('expires kept mappings by the clock when the map is read', async () => {
      let now = Date.UTC(2030, 0, 1, 12, 0, 0);
      const { fake, state } = await setup({ state: { clock: () => new Date(now) } });
      fake.event('ADDRMAP soon.example 192.0.2.1 "2030-01-01 13:01:00" EXPIRES="2030-01-01 12:01:00" CACHED="YES"');
      await sync(harness!);
      assert.equal(state.addressMap.get('soon.example')?.expires?.toISOString(), '2030-01-01T12:01:00.000Z');
      now += 61_000;
      assert.equal(state.addressMap.has('soon.example'), false);
    });

    it('a listener added later hears of mappings made from then on, not of those kept unread before', async () => {
      const { fake, state } = await setup();
      fake.event(`ADDRMAP before.example 192.0.2.1 ${NEVER_YES}`);
      await sync(harness!);
      const heard: string[] = [];
      state.on('addrmapAdded', (m) => heard.push(m.address));
      fake.event(`ADDRMAP after.example 192.0.2.2 ${NEVER_YES}`);
      await sync(harness!);
      assert.deepEqual(heard, ['after.example']);
      assert.deepEqual([...state.addressMap.keys()].sort(), ['after.example', 'before.example']);
    });

    it('a MAPADDRESS removal on this connection comes after the texts kept before its reply', async () => {
      const { fake, state, control } = await setup();
      fake.handle(/^MAPADDRESS /, () => ['250 gone.example=gone.example']);
      fake.event(`ADDRMAP gone.example 127.0.0.1 ${NEVER_YES}`);
      await control.command('MAPADDRESS gone.example=gone.example');
      assert.equal(state.addressMap.has('gone.example'), false);
    });

    it('keeps at most 4096 addresses unread: past that it reads them (their memory stays bounded)', async () => {
      const { fake, state } = await setup();
      for (let i = 0; i < 5000; i++) fake.event(`ADDRMAP h${i}.example 192.0.2.1 ${NEVER_YES}`);
      await sync(harness!);
      const unread = (state as unknown as { unreadAddrMaps: Map<string, string> }).unreadAddrMaps;
      assert.ok(unread.size <= 4096, `${unread.size} kept unread`);
      assert.equal(state.addressMap.size, 5000);
      assert.equal(unread.size, 0);
    });
  });

  describe('address map: MAPADDRESS (tor announces no removal)', () => {
    /**
     * Answers MAPADDRESS as tor 0.4.9 does: a line per pair (`@@@` refused with 512), the reply
     * first, then an ADDRMAP event for each mapping made, and none for a removal.
     */
    function answerMapAddressLikeTor(fake: FakeControlServer): void {
      fake.handle(/^MAPADDRESS /, (line) => {
        const pairs = line.split(' ').slice(1).map((p) => p.split('=') as [string, string]);
        const lines = pairs.map(([from, to]) => (to === '@@@' ? `512-syntax error: invalid address '${to}'` : `250-${from}=${to}`));
        const last = lines.length - 1;
        lines[last] = lines[last]!.slice(0, 3) + ' ' + lines[last]!.slice(4);
        const made = pairs.filter(([from, to]) => to !== '@@@' && from.toLowerCase() !== to.toLowerCase());
        setImmediate(() => {
          for (const [from, to] of made) fake.event(`ADDRMAP ${from.replace(/^\*\./, '')} ${to.replace(/^\*\./, '')} NEVER CACHED="YES"`);
        });
        return lines;
      });
    }

    it('drops a mapping removed with a raw MAPADDRESS of the address to itself, reporting addrmapRemoved', async () => {
      const { fake, state, control } = await setup({ before: answerMapAddressLikeTor });
      const added = once(state, 'addrmapAdded');
      await control.command('MAPADDRESS gone.example=127.0.0.1');
      const [m] = await added;
      assert.equal(state.addressMap.get('gone.example'), m);
      const removed: string[] = [];
      state.on('addrmapRemoved' as never, ((x: { address: string }) => removed.push(x.address)) as never);
      await control.command('MAPADDRESS gone.example=gone.example');
      assert.equal(state.addressMap.has('gone.example'), false);
      assert.deepEqual(removed, ['gone.example']);
      assert.deepEqual(commandsMatching(fake, /^MAPADDRESS/), ['MAPADDRESS gone.example=127.0.0.1', 'MAPADDRESS gone.example=gone.example']);
    });

    it("state.mapAddress: the map shows tor's reply when it resolves, without waiting for an event; addrmapAdded follows from tor's ADDRMAP", async () => {
      const { state } = await setup({ before: answerMapAddressLikeTor });
      const added = once(state, 'addrmapAdded');
      assert.deepEqual(await state.mapAddress({ 'gone.example': '127.0.0.1', 'other.example': '127.0.0.2' }), [
        { address: 'gone.example', newAddress: '127.0.0.1' },
        { address: 'other.example', newAddress: '127.0.0.2' },
      ]);
      const made = state.addressMap.get('gone.example');
      assert.equal(made?.newAddress, '127.0.0.1');
      assert.equal(made?.expires, null);
      assert.equal(made?.cached, true);
      assert.equal((await added)[0].address, 'gone.example');
      const removed = once(state, 'addrmapRemoved');
      await state.mapAddress({ 'gone.example': 'gone.example' });
      assert.equal(state.addressMap.has('gone.example'), false);
      assert.equal((await removed)[0].newAddress, '127.0.0.1');
      assert.equal(state.addressMap.get('other.example')?.newAddress, '127.0.0.2');
    });

    it('keeps the pairs tor made when it refused another (TorControlError)', async () => {
      const { state } = await setup({ before: answerMapAddressLikeTor, info: { 'address-mappings/all': 'gone.example 127.0.0.1 NEVER' } });
      await assert.rejects(
        state.mapAddress([
          ['gone.example', 'gone.example'],
          ['bad.example', '@@@'],
        ]),
        (e: unknown) => e instanceof TorControlError && e.status === 512,
      );
      assert.equal(state.addressMap.has('gone.example'), false);
    });

    it('files a wildcard mapping under its domain, as ADDRMAP names it, though address-mappings/all keeps the *.s; and removes it', async () => {
      const { state } = await setup({
        before: answerMapAddressLikeTor,
        info: { 'address-mappings/all': '*.w.example *.v.example NEVER\nkept.example 127.0.0.3 NEVER' },
      });
      assert.deepEqual([...state.addressMap.keys()], ['w.example', 'kept.example']);
      assert.equal(state.addressMap.get('w.example')?.newAddress, 'v.example');
      await state.mapAddress({ 'w.example': 'w.example' });
      assert.deepEqual([...state.addressMap.keys()], ['kept.example']);
      await state.mapAddress({ '*.x.example': '*.y.example' });
      assert.equal(state.addressMap.get('x.example')?.newAddress, 'y.example', 'as the ADDRMAP event that follows names it');
      await state.mapAddress({ '*.x.example': '*.x.example' });
      assert.deepEqual([...state.addressMap.keys()], ['kept.example']);
    });

    it('follows tor\'s case-sensitive map: a removal spelled differently removes nothing', async () => {
      const { state } = await setup({ before: answerMapAddressLikeTor, info: { 'address-mappings/all': 'Gone.Example 127.0.0.2 NEVER' } });
      await state.mapAddress({ 'gone.example': 'gone.example' });
      assert.equal(state.addressMap.get('Gone.Example')?.newAddress, '127.0.0.2');
      await state.mapAddress({ 'Gone.Example': 'gone.example' });
      assert.equal(state.addressMap.has('Gone.Example'), false);
    });

    it('applies a MAPADDRESS answered while the state is being built, after the snapshot', async () => {
      // The GETINFO's reply and the removal's come in one read: the removal must not be lost.
      const fake = await FakeControlServer.start();
      const info = { ...BASE_INFO, 'address-mappings/all': 'gone.example 127.0.0.1 NEVER' };
      fake.handle(/^GETINFO ns\/all/, async (_line, conn) => {
        // Once the MAPADDRESS sent after it has arrived, both replies in one write.
        await new Promise((resolve) => conn.socket.once('data', resolve));
        return [...keyValueReply(info), '250 gone.example=gone.example'];
      });
      fake.handle(/^MAPADDRESS /, () => []);
      const { control } = await openTorControl(fake.endpoint);
      const creating = TorState.create(control);
      await fake.waitForCommand(/^GETINFO ns\/all/);
      const removal = control.command('MAPADDRESS gone.example=gone.example');
      const state = await creating;
      harness = { fake, control, state };
      await removal;
      assert.equal(state.addressMap.has('gone.example'), false);
    });

    it('refuses bad mappings typed and sends nothing, and nothing once the state is closed', async () => {
      const { fake, state } = await setup({ before: answerMapAddressLikeTor });
      await assert.rejects(state.mapAddress({ 'a.example': 'b.example\r\nSIGNAL HALT' }), TorInvalidValueError);
      await assert.rejects(state.mapAddress({ 'a.example b.example': 'c' }), TorInvalidValueError);
      await state.close();
      await assert.rejects(state.mapAddress({ 'a.example': '127.0.0.1' }), TorControlClosedError);
      assert.deepEqual(commandsMatching(fake, /MAPADDRESS|SIGNAL/), []);
    });
  });

  describe('router versions', () => {
    /** tor's cached consensus document: a header, the recorded entries with `v`/`pr` lines, a footer. */
    function consensusDocument(version: (nick: string) => string): string {
      const entries = RECORDED_INFO['ns/all']!.replace(/^(r (\S+) .*\ns .*)$/gm, (_m, entry: string, nick: string) => `${entry}\nv Tor ${version(nick)}\npr Cons=1-2 Link=3-5`);
      return `network-status-version 3\nvote-status consensus\nknown-flags Authority Exit Fast Guard HSDir Running Stable V2Dir Valid\n${entries}\ndirectory-footer\nbandwidth-weights Wbd=0\ndirectory-signature AAAA BBBB\n-----BEGIN SIGNATURE-----\nxyz\n-----END SIGNATURE-----`;
    }

    it('reads v and pr lines from the cached consensus document, and again after each new consensus', async () => {
      const { fake, state } = await setup();
      const auth0 = state.routers.get(FP.auth0)!;
      assert.equal(auth0.version, undefined, 'ns/all has no v lines');
      fake.handle(/^GETINFO dir\/status-vote\/current\/consensus-microdesc$/, () => ['551 Could not open cached consensus.']);
      fake.info({ 'dir/status-vote/current/consensus': consensusDocument((n) => (n === 'auth0' ? '0.4.9.11' : '0.4.8.1')) });
      assert.equal(await state.loadRouterVersions(), 4);
      assert.equal(auth0.version, '0.4.9.11');
      assert.equal(auth0.protocols, 'Cons=1-2 Link=3-5');
      assert.equal(state.routers.get(FP.auth1)!.version, '0.4.8.1');

      fake.info({ 'dir/status-vote/current/consensus': consensusDocument(() => '0.4.9.12') });
      const asked = commandsMatching(fake, /^GETINFO dir\/status-vote\/current\/consensus$/).length;
      fake.rawEvent(`650+NEWCONSENSUS\r\n${RECORDED_INFO['ns/all']!.replace(/\n/g, '\r\n')}\r\n.\r\n650 OK\r\n`);
      await fake.waitForCommand(/^GETINFO dir\/status-vote\/current\/consensus$/, asked + 1);
      await sync(harness!);
      const fresh = state.routers.get(FP.auth0)!;
      assert.notEqual(fresh, auth0, 'a new consensus makes new Router objects');
      assert.equal(fresh.version, '0.4.9.12');
      assert.equal(commandsMatching(fake, /^GETINFO dir\/status-vote\/current\/consensus-microdesc$/).length, 1, 'the flavor tor has is asked first next time');
    });

    it('one timeoutMs for both documents: the second ask gets what the first left, and the call times out within it', async () => {
      const { fake, control, state } = await setup();
      fake.handle(/^GETINFO dir\/status-vote\/current\/consensus-microdesc$/, () => new Promise((resolve) => setTimeout(() => resolve(['551 Could not open cached consensus.']), 60)));
      fake.handle(/^GETINFO dir\/status-vote\/current\/consensus$/, () => new Promise<undefined>(() => undefined));
      const asks: Array<number | undefined> = [];
      const getInfo = control.getInfo.bind(control);
      control.getInfo = ((key: never, opts?: { timeoutMs?: number }) => {
        asks.push(opts?.timeoutMs);
        return getInfo(key, opts as never);
      }) as typeof control.getInfo;
      await assert.rejects(state.loadRouterVersions({ timeoutMs: 400 }), TorTimeoutError);
      assert.equal(asks.length, 2);
      assert.ok(asks[0]! <= 400 && asks[0]! > 300, `the first ask was given ${asks[0]} ms`);
      // The first answer took some 60 ms of the 400.
      assert.ok(asks[1]! < asks[0]! && asks[1]! <= 360, `the second ask was given ${asks[1]} ms`);
    });

    it('rejects with TorControlError when tor has no consensus document', async () => {
      const { fake, state } = await setup();
      fake.handle(/^GETINFO dir\/status-vote\/current\/consensus/, () => ['551 Could not open cached consensus.']);
      await assert.rejects(state.loadRouterVersions(), TorControlError);
      // A JavaScript caller's null is no options, as everywhere (not a TypeError).
      await assert.rejects(state.loadRouterVersions(null as never), TorControlError);
      assert.equal(state.routers.get(FP.auth0)!.version, undefined);
    });
  });

  describe('exit policies from microdescriptors', () => {
    // What a client that uses microdescriptors (tor's default) gets: ns/all without p lines, a
    // microdesc-flavor document whose m lines name each relay's microdescriptor, and md/all.
    const NS_WITHOUT_P = RECORDED_INFO['ns/all']!.replace(/^p .*\n?/gm, '');
    const NICKS = ['auth0', 'auth1', 'auth2', 'auth3'];

    function microdesc(nick: string, ...lines: string[]): string {
      return ['onion-key', `ntor-onion-key ${nick}key`, ...lines, `id ed25519 ${nick}id`].join('\n') + '\n';
    }
    const digestOf = (text: string) => createHash('sha256').update(text).digest('base64').replace(/=+$/, '');

    /**
     * The document (r lines without the descriptor digest, as the microdesc flavor writes them)
     * naming `mds`, with `v` lines when `version` is given.
     */
    function microdescDocument(mds: Record<string, string>, version?: string): string {
      const entries = NS_WITHOUT_P.replace(/^r (\S+) (\S+) \S+ (.*)\n(s .*)$/gm, (_m, nick: string, id: string, rest: string, s: string) =>
        `r ${nick} ${id} ${rest}\n${s}${version === undefined ? '' : `\nv Tor ${version}`}\nm ${digestOf(mds[nick]!)}`,
      );
      return `network-status-version 3 microdesc\nvote-status consensus\n${entries}\ndirectory-footer\n`;
    }

    it('a microdesc-flavor ns/all gives no summary; loadExitPolicies reads md/all by the m digests, in one GETINFO, and again after a new consensus', async () => {
      const { fake, state } = await setup({ info: { 'ns/all': NS_WITHOUT_P } });
      const auth0 = state.routers.get(FP.auth0)!;
      assert.equal(auth0.exitPolicy, undefined);
      assert.equal(auth0.acceptsPort(443), false, 'no summary: no port');
      const mds: Record<string, string> = {
        auth0: microdesc('auth0', 'p accept 80,443', 'p6 accept 443'),
        auth1: microdesc('auth1'),
        auth2: microdesc('auth2', 'p reject 25'),
        auth3: microdesc('auth3', 'p accept 1-65535'),
      };
      fake.info({ 'dir/status-vote/current/consensus-microdesc': microdescDocument(mds), 'md/all': NICKS.map((n) => mds[n]).join('').slice(0, -1) });
      assert.equal(await state.loadExitPolicies(), 4);
      assert.deepEqual(commandsMatching(fake, /md\/all/), ['GETINFO dir/status-vote/current/consensus-microdesc md/all']);
      assert.equal(auth0.acceptsPort(443), true);
      assert.equal(auth0.acceptsPort(22), false);
      assert.deepEqual(auth0.exitPolicyV6, { policy: 'accept', ranges: [[443, 443]] });
      const auth1 = state.routers.get(FP.auth1)!;
      assert.deepEqual(auth1.exitPolicy, { policy: 'reject', ranges: [[1, 65535]] }, 'no p line: reject 1-65535');
      assert.equal(state.routers.get(FP.auth2)!.acceptsPort(25), false);
      assert.equal(state.routers.get(FP.auth2)!.acceptsPort(80), true);

      // The next consensus: auth0's microdescriptor changed, auth2's new one tor has not fetched yet.
      const next: Record<string, string> = { ...mds, auth0: microdesc('auth0', 'p accept 22'), auth2: microdesc('auth2', 'p accept 9999') };
      fake.info({
        'dir/status-vote/current/consensus-microdesc': microdescDocument(next),
        'md/all': [next['auth0'], next['auth1'], next['auth3']].join(''),
      });
      const asked = commandsMatching(fake, /md\/all/).length;
      fake.rawEvent(`650+NEWCONSENSUS\r\n${NS_WITHOUT_P.replace(/\n/g, '\r\n')}\r\n.\r\n650 OK\r\n`);
      await fake.waitForCommand(/md\/all/, asked + 1);
      await sync(harness!);
      const fresh = state.routers.get(FP.auth0)!;
      assert.notEqual(fresh, auth0, 'a new consensus makes new Router objects');
      assert.equal(fresh.acceptsPort(22), true);
      assert.equal(fresh.acceptsPort(443), false);
      assert.deepEqual(state.routers.get(FP.auth2)!.exitPolicy, { policy: 'reject', ranges: [[25, 25]] }, 'kept until tor has the new one');
    });

    it('with versions wanted too, reads the microdesc document once per new consensus, for both', async () => {
      const { fake, state } = await setup({ info: { 'ns/all': NS_WITHOUT_P } });
      const mds = Object.fromEntries(NICKS.map((n) => [n, microdesc(n, 'p accept 443')]));
      const all = NICKS.map((n) => mds[n]).join('');
      fake.info({ 'dir/status-vote/current/consensus-microdesc': microdescDocument(mds, '0.4.9.1'), 'md/all': all });
      assert.equal(await state.loadRouterVersions(), 4);
      assert.equal(await state.loadExitPolicies(), 4);
      const documentReads = () => commandsMatching(fake, /^GETINFO dir\/status-vote\/current\/consensus-microdesc/).length;
      const before = documentReads();

      fake.info({ 'dir/status-vote/current/consensus-microdesc': microdescDocument(mds, '0.4.9.2'), 'md/all': all });
      fake.rawEvent(`650+NEWCONSENSUS\r\n${NS_WITHOUT_P.replace(/\n/g, '\r\n')}\r\n.\r\n650 OK\r\n`);
      await fake.waitForCommand(/md\/all/, 2);
      await sync(harness!);
      await sync(harness!);
      const fresh = state.routers.get(FP.auth0)!;
      assert.equal(fresh.version, '0.4.9.2', 'the versions came with the microdescriptors');
      assert.equal(fresh.acceptsPort(443), true);
      assert.equal(documentReads(), before + 1, 'one read of the document, not one for each');
    });

    it("keeps the p lines of an ns/all that has them; a tor without the microdesc document (UseMicrodescriptors 0) has them counted, not refused", async () => {
      const { fake, state } = await setup();
      const before = state.routers.get(FP.auth0)!.exitPolicy;
      assert.notEqual(before, undefined, 'the recorded ns/all has p lines');
      fake.handle(/^GETINFO dir\/status-vote\/current\/consensus-microdesc md\/all$/, () => ['551 Could not open cached consensus. Make sure FetchUselessDescriptors is set to 1.']);
      assert.equal(await state.loadExitPolicies(), 4);
      assert.equal(state.routers.get(FP.auth0)!.exitPolicy, before);
    });

    it('rejects with TorControlError when tor has no microdesc document and ns/all gave no summary', async () => {
      const { fake, state } = await setup({ info: { 'ns/all': NS_WITHOUT_P } });
      fake.handle(/^GETINFO dir\/status-vote\/current\/consensus-microdesc md\/all$/, () => ['551 Could not open cached consensus.']);
      await assert.rejects(state.loadExitPolicies(), TorControlError);
      assert.equal(state.routers.get(FP.auth0)!.exitPolicy, undefined);
    });

    it('refuses bad cancel options before asking tor, and a closed state', async () => {
      const { fake, state } = await setup({ info: { 'ns/all': NS_WITHOUT_P } });
      await assert.rejects(state.loadExitPolicies({ timeoutMs: -1 }), (e: unknown) => (e as { code?: string }).code === 'TOR_INVALID_VALUE');
      assert.deepEqual(commandsMatching(fake, /md\/all/), []);
      await state.close();
      await assert.rejects(state.loadExitPolicies(), TorControlClosedError);
    });
  });

  describe('location', () => {
    it('asks the injected GeoIP lookup', async () => {
      const asked: string[] = [];
      const { state } = await setup({
        state: { geoip: { lookup: async (ip) => (asked.push(ip), { countryCode: 'NL', asn: 64496 }) } },
      });
      assert.deepEqual(await state.routers.get(FP.auth0)!.location(), { countryCode: 'NL', asn: 64496 });
      assert.deepEqual(asked, ['127.0.0.1']);
    });

    it('takes a lookup that answers at once or throws as one that resolves or rejects (location() threw a bare TypeError)', async () => {
      let answer: () => Location = () => ({ countryCode: 'NL' });
      const { state } = await setup({ state: { geoip: { lookup: (() => answer()) as never } } });
      assert.deepEqual(await state.routers.get(FP.auth0)!.location(), { countryCode: 'NL' });
      answer = () => {
        throw new Error('database gone');
      };
      const failing = state.routers.get(FP.auth1)!.location();
      await assert.rejects(failing, /database gone/);
      // Not remembered: the next call asks again.
      answer = () => ({ countryCode: 'SE' });
      assert.deepEqual(await state.routers.get(FP.auth1)!.location(), { countryCode: 'SE' });
    });

    it('falls back to tor\'s table through TorGeoIp, as tor.getState() does: a loopback relay has no country, tor is not asked', async () => {
      const { fake, state } = await setup({ info: { 'ip-to-country/127.0.0.1': 'de' } });
      assert.deepEqual(await state.routers.get(FP.auth0)!.location(), {});
      assert.deepEqual(commandsMatching(fake, /ip-to-country/), []);
    });
  });

  describe('descriptors', () => {
    it("router.descriptor() and microdescriptor() read tor's copies by fingerprint, parsed", async () => {
      // The texts are another relay's: the fake answers them for auth0's fingerprint.
      const { fake, state } = await setup({ info: { [`desc/id/${FP.auth0}`]: REAL_DESC, [`md/id/${FP.auth0}`]: REAL_MD } });
      const router = state.routers.get(FP.auth0)!;
      const d = await router.descriptor();
      assert.equal(d?.nickname, 'auth0');
      assert.equal(d?.platform, 'Tor 0.4.9.11 on Linux');
      assert.deepEqual(d?.exitPolicy, ['accept 127.0.0.0/8:*', 'reject *:*']);
      const md = await router.microdescriptor({ timeoutMs: 5000 });
      assert.equal(md?.ntorOnionKey, 'q6SZRMDMygYmu1LYjZ3/jbuIr7t/UkS/1kcBv9mHGhI');
      assert.deepEqual(commandsMatching(fake, /\/id\//), [`GETINFO desc/id/${FP.auth0}`, `GETINFO md/id/${FP.auth0}`]);
      // Asked again on each call: tor may have a newer one.
      await router.descriptor();
      assert.equal(commandsMatching(fake, /desc\/id\//).length, 2);
    });

    it('gives undefined when tor has none (552), as a client using microdescriptors answers for desc/id', async () => {
      const { fake, state } = await setup();
      // The fake answers 552 Unrecognized key for keys it has no value for, as tor does.
      const router = state.routers.get(FP.auth1)!;
      assert.equal(await router.descriptor(), undefined);
      assert.equal(await router.microdescriptor(), undefined);
      assert.deepEqual(commandsMatching(fake, /\/id\//), [`GETINFO desc/id/${FP.auth1}`, `GETINFO md/id/${FP.auth1}`]);
    });

    it("rejects with tor's other errors, and TorProtocolError for text that is no descriptor; the state goes on", async () => {
      const { fake, state } = await setup({ info: { [`desc/id/${FP.auth0}`]: 'router x\nnot a descriptor', [`md/id/${FP.auth0}`]: 'p accept 80,' } });
      fake.handle(/^GETINFO desc\/id\/[0-9A-F]{40}$/, (line) => (line.endsWith(FP.auth1) ? ['551 Internal error'] : undefined));
      const auth0 = state.routers.get(FP.auth0)!;
      await assert.rejects(auth0.descriptor(), TorProtocolError);
      await assert.rejects(auth0.microdescriptor(), TorProtocolError);
      await assert.rejects(state.routers.get(FP.auth1)!.descriptor(), (err: unknown) => err instanceof TorControlError && err.status === 551);
      assert.equal(await state.routers.get(FP.auth2)!.descriptor(), undefined);
    });

    it('refuses bad options before asking tor, and a closed state', async () => {
      const { fake, state } = await setup();
      const router = state.routers.get(FP.auth0)!;
      await assert.rejects(router.descriptor({ timeoutMs: -1 }), TorInvalidValueError);
      await assert.rejects(router.microdescriptor({ timout: 5 } as never), TorInvalidValueError);
      assert.deepEqual(commandsMatching(fake, /\/id\//), []);
      await state.close();
      await assert.rejects(router.descriptor(), TorControlClosedError);
      await assert.rejects(router.microdescriptor(), TorControlClosedError);
      assert.deepEqual(commandsMatching(fake, /\/id\//), []);
    });

    it('gives undefined for a Router made without a TorState, and for one with no fingerprint', async () => {
      const bare = new Router({ identity: 'NLA8C4OB5b/rqtWBI/kQlRyF1m0', nickname: 'auth0', address: '127.0.0.1', orPort: 1, dirPort: 0 }, '', 0, 0);
      assert.equal(await bare.descriptor(), undefined);
      assert.equal(await bare.microdescriptor(), undefined);
      const asked: string[] = [];
      const context = {
        locate: async () => ({}),
        serverDescriptorText: async (fp: string) => (asked.push(fp), REAL_DESC),
        microdescriptorText: async (fp: string) => (asked.push(fp), REAL_MD),
      };
      const nameless = Router.unlisted('', 'x', context);
      assert.equal(await nameless.descriptor(), undefined);
      assert.equal(await nameless.microdescriptor(), undefined);
      assert.deepEqual(asked, []);
      // An unlisted relay with a fingerprint (a circuit hop tor named) is asked for.
      assert.equal((await Router.unlisted(FP.auth3, 'auth3', context).descriptor())?.nickname, 'auth0');
      assert.deepEqual(asked, [FP.auth3]);
    });
  });

  describe('closing', () => {
    it('close() unsubscribes, emits close once, rejects waiters and refuses new work', async () => {
      const { fake, state, control } = await setup();
      fake.event('CIRC 95 LAUNCHED');
      await sync(harness!);
      const waiting = assert.rejects(state.circuits.get('95')!.whenBuilt(), TorControlClosedError);
      const closes: unknown[] = [];
      state.on('close', (err) => closes.push(err));
      await state.close();
      await state.close();
      assert.deepEqual(closes, [undefined]);
      await waiting;
      assert.equal(commandsMatching(fake, /^SETEVENTS/).at(-1), 'SETEVENTS');
      await assert.rejects(state.buildCircuit(['auth0']), TorControlClosedError);
      await assert.rejects(state.setAttacher(() => undefined), TorControlClosedError);
      // Events after close change nothing.
      fake.broadcast('650 CIRC 96 LAUNCHED\r\n');
      await control.getInfo('version');
      assert.ok(!state.circuits.has('96'));
    });

    it('tor.getState() after the state was closed builds a new one', async () => {
      const { fake, control } = await setup();
      const tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
      const first = await tor.getState();
      assert.equal(await tor.getState(), first, 'one state while it is open');
      await first.close();
      const second = await tor.getState();
      assert.notEqual(second, first);
      fake.event('CIRC 98 LAUNCHED');
      await sync(harness!);
      assert.ok(second.circuits.has('98'), 'the new state follows tor');
      await second.close();
    });

    it('close() returns even when tor stops answering', async function () {
      this.timeout(15_000);
      const { fake, state } = await setup();
      fake.handle(/^SETEVENTS/, () => new Promise<undefined>(() => undefined));
      const closes: unknown[] = [];
      state.on('close', (err) => closes.push(err));
      await state.close();
      assert.deepEqual(closes, [undefined]);
    });

    it('emits close with the error when the control connection drops', async () => {
      const { fake, state } = await setup();
      fake.event('CIRC 97 LAUNCHED');
      await sync(harness!);
      const waiting = assert.rejects(state.circuits.get('97')!.whenBuilt(), TorControlClosedError);
      const closed = once(state, 'close');
      for (const c of fake.connections) c.socket.destroy();
      const [err] = await closed;
      assert.ok(err instanceof TorControlClosedError);
      await waiting;
      await state.close();
    });
  });
});
