import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sinon from 'sinon';
import { unquoteString } from '../../src/control/keyword-args.js';
import type { TorControl } from '../../src/control/tor-control.js';
import { openTorControl } from '../../src/control/transport.js';
import type { TorConfig } from '../../src/config/tor-config.js';
import { EndpointArgumentError, TorError, TorInvalidValueError } from '../../src/errors.js';
import { generateClientAuthKey } from '../../src/onion/client-auth.js';
import type { TorState } from '../../src/state/tor-state.js';
import { Tor } from '../../src/tor/tor.js';
import { recordControlWrites } from '../support/control-writes.js';
import { FakeControlServer } from '../support/fake-control-server.js';

/**
 * Control-protocol injection: every public method that puts a caller's value on the control
 * connection (or into a SOCKS request) is tried with CR, LF, NUL and quoting tricks. A value that
 * could end our command and start another must be refused with a typed error before ANY byte is
 * written (a spy on the control socket's write) and before any socket is opened or any server
 * listens. Values that the protocol quotes (SETCONF values, paths) may contain quotes and
 * backslashes: then exactly one command line goes out, and its quoted value decodes back to
 * exactly what the caller gave.
 *
 * Runs against a fake control port (test/support/fake-control-server.ts); the same checks against
 * real tor are in test/integration/control.test.ts and config.test.ts for the basic cases.
 */

/** Values that would split a command line. */
const LINE_BREAKS = ['\r', '\n', '\r\n', '\0', 'x\r\nSIGNAL HALT', 'x\nSIGNAL HALT', 'x\0SIGNAL HALT', 'x\rSIGNAL HALT', 'SIGNAL HALT\r\n'];
/** Values that would break out of a quoted string or a token if not encoded. */
const QUOTE_TRICKS = ['"', '\\"', '\\\\', '\\', '" SIGNAL HALT', 'x" SIGNAL HALT "', '\\" SIGNAL HALT', 'a "b" c', '"\\'];
const ALL = [...LINE_BREAKS, ...QUOTE_TRICKS];

const ONION = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid';
const FP = '790CDA8DBC6E3EE6A0047D6AED870A7720C5A38A';
const KEY = 'ED25519-V3:' + Buffer.alloc(64, 7).toString('base64');
const CLIENT_KEY = generateClientAuthKey('alice').privateKey;

/** ns/all with one relay, `auth0`, so that a valid nickname exists next to the hostile ones. */
const NS_ALL = `r auth0 ${Buffer.from(FP, 'hex').toString('base64').replace(/=+$/, '')} AAAAAAAAAAAAAAAAAAAAAAAAAAA 2024-01-01 00:00:00 127.0.0.1 5000 7000\ns Fast Guard Running Stable Valid\nw Bandwidth=20`;

const CONFIG_NAMES = ['ContactInfo String', 'Nickname String', 'SocksPort LineList', 'DataDirectory Filename', 'HiddenServiceDir Dependent', 'HiddenServicePort Dependent', 'HiddenServiceOptions Virtual', 'DisableNetwork Boolean'].join('\n');

describe('injection: hostile values never reach the wire', () => {
  let fake: FakeControlServer;
  let control: TorControl;
  let tor: Tor;
  let state: TorState;
  let config: TorConfig;
  let tmp: string;
  let written: string[];
  let write: sinon.SinonSpy;
  let opened: sinon.SinonSpy[];
  /** Error messages that carried a raw CR, LF or NUL, by method (checked in the last test). */
  const rawInMessage = new Set<string>();

  before(async () => {
    fake = await FakeControlServer.start();
    fake.info({
      'ns/all': NS_ALL,
      'circuit-status': '',
      'stream-status': '',
      'address-mappings/all': '',
      'entry-guards': '',
      'config/names': CONFIG_NAMES,
      'net/listeners/socks': '"127.0.0.1:1"',
      'process/uid': String(process.getuid?.() ?? 0),
    });
    // HiddenServiceOptions at its default: no services yet (keeps removal a no-op).
    fake.handle(/^GETCONF HiddenServiceOptions$/, () => ['250 HiddenServiceOptions']);
    fake.handle(/^(ADD_ONION|DEL_ONION|ONION_CLIENT_AUTH_ADD|ONION_CLIENT_AUTH_REMOVE|SIGNAL|EXTENDCIRCUIT|CLOSECIRCUIT|CLOSESTREAM)\b/, (line) =>
      line.startsWith('ADD_ONION') ? [`250-ServiceID=${ONION}`, '250 OK'] : ['250 OK'],
    );
    // (Registered last, so it wins over the catch-all above.) As tor does, a NEWNYM it applies at once is announced before the OK.
    fake.handle(/^SIGNAL NEWNYM$/, () => ['650 SIGNAL NEWNYM', '250 OK']);
    ({ control } = await openTorControl(fake.endpoint));
    tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
    state = await tor.getState();
    config = await tor.getConfig();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'torcon-injection-'));
    ({ written, write } = recordControlWrites(control));
  });
  after(async () => {
    sinon.restore();
    await tor?.close();
    await fake?.close();
    await rm(tmp, { recursive: true, force: true });
  });
  beforeEach(() => {
    written.length = 0;
    write.resetHistory();
    opened = [sinon.spy(net, 'connect'), sinon.spy(net, 'createConnection'), sinon.spy(net.Socket.prototype, 'connect'), sinon.spy(net.Server.prototype, 'listen')];
  });
  afterEach(() => {
    for (const s of opened) s.restore();
  });

  /** Runs one attempt and asserts: typed error, nothing written, nothing opened. */
  async function refused(name: string, value: string, run: () => Promise<unknown>, opts: { trims?: boolean } = {}): Promise<void> {
    written.length = 0;
    const before = opened.map((s) => s.callCount);
    let outcome: unknown = 'resolved';
    let result: unknown;
    try {
      result = await run();
    } catch (err) {
      outcome = err;
    }
    const label = `${name} with ${JSON.stringify(value)}`;
    if (outcome === 'resolved' && opts.trims && value.trim() === '') {
      // Surrounding whitespace (a key pasted with its line end) is trimmed, not sent: what went
      // out is one clean line without the hostile part.
      const line = oneLine(label);
      assert.ok(!line.includes('SIGNAL'), `${label}: ${JSON.stringify(line)}`);
      await (result as { close?: () => Promise<void> } | undefined)?.close?.();
      return;
    }
    assert.ok(outcome instanceof TorInvalidValueError || outcome instanceof EndpointArgumentError, `${label}: ${outcome === 'resolved' ? 'accepted' : String(outcome)}`);
    assert.ok(['TOR_INVALID_VALUE', 'TOR_ENDPOINT_ARGUMENT'].includes((outcome as TorError).code));
    assert.deepEqual(written, [], `${label}: bytes reached the control connection`);
    assert.deepEqual(opened.map((s) => s.callCount), before, `${label}: a socket was opened or a server listened`);
    // Messages end up in logs: a raw line break from the caller's value would forge log lines.
    if (/[\r\n\0]/.test((outcome as Error).message)) rawInMessage.add(name);
  }

  /** The one command line written since the last reset (exactly one CRLF, at the end). */
  function oneLine(label: string): string {
    const wire = written.join('');
    assert.equal(wire.split('\r\n').length, 2, `${label}: not exactly one line: ${JSON.stringify(wire)}`);
    assert.ok(!/[\n\0]/.test(wire.slice(0, -2)) && !wire.slice(0, -2).includes('\r'), `${label}: control characters inside the line`);
    return wire.slice(0, -2);
  }

  /** The decoded value of `KEY="..."` in a command line: must be the single quoted string after the key. */
  function quotedValueOf(line: string, key: string): string {
    const start = line.indexOf(`${key}="`);
    assert.ok(start !== -1, `${key} not quoted in ${line}`);
    let i = start + key.length + 2;
    for (; i < line.length; i++) {
      if (line[i] === '\\') i++;
      else if (line[i] === '"') break;
    }
    return unquoteString(line.slice(start + key.length + 1, i + 1));
  }

  it('TorControl: command, getInfo, getConf, setConf names, resetConf, signal, subscribe, events', async () => {
    for (const v of LINE_BREAKS) {
      await refused('control.command', v, () => control.command(`GETINFO version${v}`));
      await refused('control.commandWithData', v, () => control.commandWithData(`LOADCONF${v}`, 'SocksPort 0'));
      await refused('control.commandWithData(data)', v, () => control.commandWithData('LOADCONF', `SocksPort 0${v.replace(/\n/g, '\r')}`));
      await refused('control.setConf value', v, () => control.setConf({ ContactInfo: v }));
      await refused('control.setConf list value', v, () => control.setConf({ SocksPort: ['9050', v] }));
      await refused('control.resetConf value', v, () => control.resetConf({ ContactInfo: v }));
    }
    for (const v of ALL) {
      await refused('control.getInfo', v, () => control.getInfo(`version${v}`));
      await refused('control.getInfo([ok, bad])', v, () => control.getInfo(['version', v]));
      await refused('control.getConf', v, () => control.getConf([`SocksPort${v}`]));
      await refused('control.setConf name', v, () => control.setConf({ [`Contact${v}Info`]: 'x' }));
      await refused('control.resetConf name', v, () => control.resetConf([`SocksPort${v}`]));
      await refused('control.signal', v, () => control.signal(`NEWNYM${v}`));
      await refused('control.subscribe', v, () => control.subscribe(`CIRC${v}`, () => undefined));
      await refused('control.events', v, () => control.events([`STREAM${v}`]).next());
    }
  });

  it('refuses lone UTF-16 surrogates (UTF-8 cannot carry them: tor would get U+FFFD) and passes surrogate pairs', async () => {
    for (const v of ['\ud800', 'x\udfffy', '\udc00\ud800']) {
      await refused('control.command', v, () => control.command(`SETCONF ContactInfo=${v}`));
      await refused('control.setConf value', v, () => control.setConf({ ContactInfo: v }));
      await refused('control.getInfo', v, () => control.getInfo(`version${v}`));
      await refused('config.set value', v, () => config.set({ ContactInfo: v }));
      await refused('config.set list value', v, () => config.set({ SocksPort: ['9050', v] }));
    }
    written.length = 0;
    await control.setConf({ ContactInfo: 'x\u{1F600}y' });
    assert.equal(quotedValueOf(oneLine('setConf with a surrogate pair'), 'ContactInfo'), 'x\u{1F600}y');
  });

  it('TorControl.setConf/resetConf quote every value: one line, decoding to exactly the value', async () => {
    for (const v of QUOTE_TRICKS) {
      written.length = 0;
      await control.setConf({ ContactInfo: v });
      const line = oneLine(`setConf ${JSON.stringify(v)}`);
      assert.equal(quotedValueOf(line, 'ContactInfo'), v);
      assert.match(line, /^SETCONF ContactInfo="/);
      written.length = 0;
      await control.resetConf({ Nickname: v });
      assert.equal(quotedValueOf(oneLine(`resetConf ${JSON.stringify(v)}`), 'Nickname'), v);
    }
  });

  it('TorConfig: set values and names, get/getRaw/reset names', async () => {
    for (const v of LINE_BREAKS) {
      await refused('config.set value', v, () => config.set({ ContactInfo: v }));
      await refused('config.set list value', v, () => config.set({ SocksPort: ['9050', v] }));
    }
    for (const v of ALL) {
      await refused('config.set name', v, () => config.set({ [`Contact${v}Info`]: 'x' }));
      await refused('config.get', v, () => config.get(`ContactInfo${v}`));
      await refused('config.getRaw', v, () => config.getRaw(`ContactInfo${v}`));
      await refused('config.reset', v, () => config.reset([`ContactInfo${v}`]));
    }
    for (const v of QUOTE_TRICKS) {
      written.length = 0;
      await config.set({ ContactInfo: v });
      assert.equal(quotedValueOf(oneLine(`config.set ${JSON.stringify(v)}`), 'ContactInfo'), v);
    }
  });

  it('Tor.newIdentity sends exactly SIGNAL NEWNYM (it takes no caller value), between subscribing to SIGNAL events and back', async () => {
    await tor.newIdentity();
    await new Promise((r) => setTimeout(r, 50)); // the unsubscribing SETEVENTS is not awaited
    const lines = written.join('').split('\r\n').slice(0, -1);
    assert.deepEqual(lines.filter((l) => !l.startsWith('SETEVENTS ')), ['SIGNAL NEWNYM']);
    assert.ok(lines[0]!.includes(' SIGNAL'), `subscribed to SIGNAL first: ${JSON.stringify(lines)}`);
    assert.ok(!lines.at(-1)!.includes(' SIGNAL'), `unsubscribed after: ${JSON.stringify(lines)}`);
  });

  it('createOnionService: privateKey, port targets, clientAuth names, localSocket, hiddenServiceDir', async () => {
    const target = '127.0.0.1:9';
    for (const v of ALL) {
      await refused('privateKey', v, () => tor.createOnionService({ ports: [{ virtualPort: 80, target }], privateKey: KEY + v, awaitUpload: false }), { trims: true });
      await refused('privateKey (type)', v, () => tor.createOnionService({ ports: [{ virtualPort: 80, target }], privateKey: `ED25519-V3${v}:AAAA`, awaitUpload: false }));
      await refused('ports[].target', v, () => tor.createOnionService({ ports: [{ virtualPort: 80, target: `127.0.0.1:9${v}` }], awaitUpload: false }));
      await refused('ports[].target (unix)', v, () => tor.createOnionService({ ports: [{ virtualPort: 80, target: `unix:/tmp/s${v}` }], awaitUpload: false }));
      await refused('clientAuth name', v, () => tor.createOnionService({ ports: [{ virtualPort: 80, target }], clientAuth: ['alice', `bob${v}`], awaitUpload: false }));
    }
    for (const v of LINE_BREAKS) {
      await refused('hiddenServiceDir', v, () => tor.createOnionService({ ports: [{ virtualPort: 80, target }], hiddenServiceDir: path.join(tmp, `hs${v}`), awaitUpload: false }));
      await refused('privateKeyFile', v, () => tor.createOnionService({ ports: [{ virtualPort: 80, target }], privateKeyFile: path.join(tmp, `key${v}`), awaitUpload: false }));
      await refused('localSocket', v, () => tor.createOnionService({ ports: [{ virtualPort: 80 }], server: net.createServer(), localSocket: path.join(tmp, `s${v}`), awaitUpload: false }));
    }
    // A valid service still works, and its ADD_ONION is one line.
    written.length = 0;
    const ok = await tor.createOnionService({ ports: [{ virtualPort: 80, target }], privateKey: KEY, clientAuth: ['alice'], awaitUpload: false });
    assert.match(written[0]!, /^ADD_ONION ED25519-V3:\S+ (Flags=\S+ )?Port=80,127\.0\.0\.1:9 ClientAuthV3=\S+\r\n$/);
    await ok.close();
  });

  it('createOnionService with quotes in hiddenServiceDir: one SETCONF line that decodes to the path', async () => {
    for (const [i, v] of QUOTE_TRICKS.filter((q) => !q.includes('/')).entries()) {
      const dir = path.join(tmp, `hs-${i}-${v}`);
      await mkdir(dir, { mode: 0o700 });
      await chmod(dir, 0o700);
      // What tor would write: the service's address.
      await writeFile(path.join(dir, 'hostname'), `${ONION}.onion\n`);
      written.length = 0;
      const service = await tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], hiddenServiceDir: dir, awaitUpload: false });
      const setconf = written.filter((w) => w.startsWith('SETCONF'));
      assert.equal(setconf.length, 1, JSON.stringify(written));
      const line = setconf[0]!;
      assert.equal(line.split('\r\n').length, 2, `several lines: ${JSON.stringify(line)}`);
      assert.equal(quotedValueOf(line, 'HiddenServiceDir'), dir);
      assert.equal(service.hostname, `${ONION}.onion`);
      await service.close();
    }
  });

  it('client authorization: onion address, private key and client name', async () => {
    for (const v of ALL) {
      await refused('addOnionClientAuth onion', v, () => tor.addOnionClientAuth(ONION + v, CLIENT_KEY), { trims: true });
      await refused('addOnionClientAuth key', v, () => tor.addOnionClientAuth(ONION, CLIENT_KEY + v), { trims: true });
      await refused('addOnionClientAuth key prefix', v, () => tor.addOnionClientAuth(ONION, `x25519${v}:${CLIENT_KEY}`));
      await refused('addOnionClientAuth clientName', v, () => tor.addOnionClientAuth(ONION, CLIENT_KEY, { clientName: `n${v}` }));
      await refused('removeOnionClientAuth', v, () => tor.removeOnionClientAuth(`${ONION}.onion${v}`), { trims: true });
    }
  });

  it('TorState: buildCircuit path names, closeCircuit and closeStream ids and reasons', async () => {
    assert.ok(state.routerByName('auth0'), 'the fake consensus has a relay');
    for (const v of ALL) {
      await refused('buildCircuit hop', v, () => state.buildCircuit([`auth0${v}`]));
      await refused('buildCircuit later hop', v, () => state.buildCircuit(['auth0', `auth0${v}`, 'auth0']));
      await refused('buildCircuit fingerprint hop', v, () => state.buildCircuit([`$${FP}${v}`]));
      await refused('buildCircuit purpose', v, () => state.buildCircuit(undefined, { purpose: `general${v}` as 'general' }));
      await refused('closeCircuit', v, () => state.closeCircuit(`7${v}`));
      await refused('closeStream id', v, () => state.closeStream(`9${v}`));
      await refused('closeStream reason', v, () => state.closeStream('9', `DONE${v}`));
    }
  });

  it('SOCKS: resolve, resolvePtr and connect targets with CR/LF/NUL open no socket', async () => {
    for (const v of LINE_BREAKS) {
      await refused('tor.resolve', v, () => tor.resolve(`example.com${v}`));
      await refused('tor.resolvePtr', v, () => tor.resolvePtr(`127.0.0.1${v}`));
      await refused('tor.connect({ host })', v, () => tor.connect({ host: `example.com${v}`, port: 80 }));
      await refused('tor.connect("host:port")', v, () => tor.connect(`exam${v}ple.com:80`));
      await refused('tor.connect([v6]:port)', v, () => tor.connect(`[::1${v}]:80`));
    }
    for (const v of QUOTE_TRICKS) await refused('tor.resolvePtr', v, () => tor.resolvePtr(v));
  });

  it('containers and flags of the wrong type: TorConfig, buildCircuit, client authorization', async () => {
    const loose = <T>(x: T) => x as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const cases: Array<[string, () => Promise<unknown>]> = [
      ['config.set(null)', () => loose(config).set!(null)],
      ['config.set(array)', () => loose(config).set!([['ContactInfo', 'x']])],
      ["config.getMany('ContactInfo')", () => loose(config).getMany!('ContactInfo')],
      ["config.reset('ContactInfo')", () => loose(config).reset!('ContactInfo')],
      ['config.setHiddenServices(null)', () => loose(config).setHiddenServices!(null)],
      ['config.setHiddenServices([null])', () => loose(config).setHiddenServices!([null])],
      ['a group without ports', () => loose(config).setHiddenServices!([{ dir: '/d', options: [] }])],
      // (A group without options has none: see config-values.test.ts.)
      ['a group whose options are no array', () => loose(config).setHiddenServices!([{ dir: '/d', ports: ['80'], options: 'HiddenServiceMaxStreams=3' }])],
      ['a group option that is no pair', () => loose(config).setHiddenServices!([{ dir: '/d', ports: ['80'], options: ['HiddenServiceMaxStreams=3'] }])],
      ["buildCircuit('auth0')", () => loose(state).buildCircuit!('auth0')],
      ['buildCircuit(null)', () => loose(state).buildCircuit!(null)],
      ['buildCircuit({})', () => loose(state).buildCircuit!({})],
      ['addOnionClientAuth options null', () => loose(tor).addOnionClientAuth!(ONION, CLIENT_KEY, null)],
      ["permanent: 'false'", () => loose(tor).addOnionClientAuth!(ONION, CLIENT_KEY, { permanent: 'false' })],
      ['permanent: 1', () => loose(tor).addOnionClientAuth!(ONION, CLIENT_KEY, { permanent: 1 })],
    ];
    for (const [name, run] of cases) await refused(name, '', run);
  });

  it('no error message above carried a raw CR, LF or NUL from the caller (they would forge log lines)', () => {
    assert.deepEqual([...rawInMessage], []);
  });
});
