import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import createDebug from 'debug';
import { TorControl } from '../../src/control/tor-control.js';
import { openTorControl } from '../../src/control/transport.js';
import { TorAuthError } from '../../src/errors.js';
import { generateClientAuthKey } from '../../src/onion/client-auth.js';
import { Tor } from '../../src/tor/tor.js';
import { FakeControlServer } from '../support/fake-control-server.js';
import { connectRaw, ScriptedPeer } from '../support/scripted-peer.js';
import { startFakeSocksServer, type FakeSocksServer } from './socks-fake-server.js';

/**
 * Secrets never leave through the side doors: error messages (and their cause chains), the debug
 * log (`DEBUG=torcon:*`), `util.inspect` (what console.log prints) and JSON of our objects.
 * Secrets: control passwords, cookie bytes (hex), SAFECOOKIE hashes, onion private keys,
 * client-authorization keys, SOCKS passwords and isolation tokens, SOCKS_PASSWORD in events.
 *
 * These flows run against fake peers (byte-exact, no tor); test/integration/no-leak.test.ts
 * drives the same secrets through real tor.
 */

// ------------------------------------------------------------------ capture helpers

/** Captures every `torcon:*` debug line while `fn` runs. */
async function withDebugCapture<T>(fn: () => Promise<T>): Promise<{ result: T; log: string }> {
  const captured: string[] = [];
  const savedLog = createDebug.log;
  const savedNamespaces = createDebug.disable();
  createDebug.enable('torcon:*');
  createDebug.log = (...args: unknown[]) => captured.push(util.format(...args));
  try {
    const result = await fn();
    return { result, log: captured.join('\n') };
  } finally {
    createDebug.log = savedLog;
    createDebug.disable();
    if (savedNamespaces) createDebug.enable(savedNamespaces);
  }
}

/** JSON of anything: cycles cut, Buffers as hex (so that a secret Buffer shows as its hex). */
function safeJson(value: unknown): string {
  const seen = new WeakSet<object>();
  try {
    return JSON.stringify(value, (_key, v: unknown) => {
      if (v && typeof v === 'object') {
        const b = v as { type?: unknown; data?: unknown };
        if (b.type === 'Buffer' && Array.isArray(b.data)) return Buffer.from(b.data as number[]).toString('hex');
        if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
        if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), x]));
        if (seen.has(v)) return '[cycle]';
        seen.add(v);
      }
      return v;
    }) ?? '';
  } catch (err) {
    return `[unserializable: ${(err as Error).message}]`;
  }
}

/** Every way an object shows itself: inspect (console.log), deep inspect, JSON. */
function renderings(value: unknown): string {
  return [util.inspect(value), util.inspect(value, { depth: 8, showHidden: false }), safeJson(value), String(value)].join('\n');
}

/** An error in every form a log may take: message, stack, inspect with its cause chain, JSON. */
function errorRenderings(err: unknown): string {
  const parts = [String(err), renderings(err)];
  for (let e = err, i = 0; e instanceof Error && i < 6; e = e.cause, i++) parts.push(e.message, e.stack ?? '');
  return parts.join('\n');
}

/** Fails naming the secret (by label, never by value) that appears in `text`. */
function assertNoSecret(text: string, secrets: Record<string, string>, where: string): void {
  for (const [label, secret] of Object.entries(secrets)) {
    assert.ok(secret.length >= 6, `secret ${label} too short to search for`);
    if (text.includes(secret)) assert.fail(`${label} appears in ${where}`);
  }
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

const PROTOCOLINFO = (methods: string, cookieFile?: string) =>
  `250-PROTOCOLINFO 1\r\n250-AUTH METHODS=${methods}${cookieFile ? ` COOKIEFILE="${cookieFile}"` : ''}\r\n250-VERSION Tor="0.4.9.1"\r\n250 OK\r\n`;

// ------------------------------------------------------------------ control-port authentication

describe('secrets: control-port authentication', () => {
  let peer: ScriptedPeer;
  let dir: string;
  const cookie = Buffer.from('c0ffee00'.repeat(8), 'hex');
  const cookieHex = cookie.toString('hex');

  beforeEach(async () => {
    peer = await ScriptedPeer.start();
    dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-secrets-'));
    await writeFile(path.join(dir, 'cookie'), cookie);
  });
  afterEach(async () => {
    await peer.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('HASHEDPASSWORD: the password is in neither the debug log, nor errors, nor the objects', async () => {
    const password = 'pw-Hunter2 "quoted" \\ back';
    const secrets = { password, 'quoted password': 'Hunter2 \\"quoted\\"' };
    peer.auto.set('PROTOCOLINFO', PROTOCOLINFO('HASHEDPASSWORD'));
    peer.auto.set('AUTHENTICATE', '250 OK\r\n');
    peer.auto.set('GETINFO', '250-version=0.4.9.1\r\n250 OK\r\n');
    const { result, log } = await withDebugCapture(async () => {
      const opened = await openTorControl(peer.endpoint, { password });
      await opened.control.getInfo('version');
      return opened;
    });
    assert.equal(peer.received.find((l) => l.startsWith('AUTHENTICATE')), `AUTHENTICATE "pw-Hunter2 \\"quoted\\" \\\\ back"`);
    assert.match(log, /AUTHENTICATE \[redacted\]/, 'the command is logged, redacted');
    assertNoSecret(log, secrets, 'the debug log');
    const tor = new Tor(result.control, { version: '0.4.9.1', controlEndpoint: peer.endpoint });
    assertNoSecret(renderings(tor) + renderings(result.control) + renderings(result), secrets, 'the Tor/TorControl objects');
    result.control.destroy();
  });

  it('HASHEDPASSWORD refused: the error, its causes and the log hold no password', async () => {
    const password = 'wrong-Password-42';
    peer.auto.set('PROTOCOLINFO', PROTOCOLINFO('HASHEDPASSWORD'));
    peer.auto.set('AUTHENTICATE', '515 Authentication failed: Password did not match HashedControlPassword value from configuration\r\n');
    const { result: err, log } = await withDebugCapture(() => rejection(openTorControl(peer.endpoint, { password })));
    assert.ok(err instanceof TorAuthError, String(err));
    assertNoSecret(errorRenderings(err), { password }, 'the auth error');
    assertNoSecret(log, { password }, 'the debug log');
  });

  it('a secret option read back with GETCONF is not in the debug log', async () => {
    const control = new TorControl(await connectRaw(peer.port));
    try {
      const { result, log } = await withDebugCapture(async () => {
        const read = control.getConf(['Socks5ProxyPassword']);
        await peer.waitForLines(1);
        peer.write('250 Socks5ProxyPassword=proxy-secret-77\r\n');
        return read;
      });
      assert.deepEqual(result, { Socks5ProxyPassword: ['proxy-secret-77'] });
      assert.match(log, /Socks5ProxyPassword=\[redacted\]/);
      assertNoSecret(log, { password: 'proxy-secret-77' }, 'the debug log');
    } finally {
      control.destroy();
    }
  });

  it('SETCONF of a proxy user name or a bridge line, and their GETCONF answers, are not in the debug log', async () => {
    const control = new TorControl(await connectRaw(peer.port));
    try {
      const bridge = 'obfs4 127.0.0.2:443 0123456789ABCDEF0123456789ABCDEF01234567 cert=PLANTEDCERT iat-mode=0';
      const { log } = await withDebugCapture(async () => {
        const set = control.setConf({ Socks5ProxyUsername: 'PLANTEDUSER', Bridge: bridge });
        await peer.waitForLines(1);
        peer.write('250 OK\r\n');
        await set;
        const read = control.getConf(['Bridge']);
        await peer.waitForLines(2);
        peer.write(`250 Bridge=${bridge}\r\n`);
        assert.deepEqual(await read, { Bridge: [bridge] });
      });
      assert.match(peer.received[0]!, /PLANTEDUSER/, 'sent to tor as given');
      for (const planted of ['PLANTEDUSER', 'PLANTEDCERT', '127.0.0.2']) assert.ok(!log.includes(planted), `${planted} in the debug log:\n${log}`);
    } finally {
      control.destroy();
    }
  });

  it('a tab after AUTHENTICATE (tor takes it as a space): the password is in neither the log nor the error', async () => {
    const control = new TorControl(await connectRaw(peer.port));
    try {
      const { result: err, log } = await withDebugCapture(async () => {
        const sent = rejection(control.command('AUTHENTICATE\t"tab-secret-pw"'));
        await peer.waitForLines(1);
        peer.write('515 Authentication failed\r\n');
        return sent;
      });
      assert.equal((err as { command?: string }).command, 'AUTHENTICATE');
      assertNoSecret(errorRenderings(err), { password: 'tab-secret-pw', upper: 'TAB-SECRET-PW' }, 'the error');
      assertNoSecret(log, { password: 'tab-secret-pw' }, 'the debug log');
    } finally {
      control.destroy();
    }
  });

  it('COOKIE offered without SAFECOOKIE (an impostor collecting cookies): the cookie is never sent nor shown', async () => {
    peer.auto.set('PROTOCOLINFO', PROTOCOLINFO('COOKIE', path.join(dir, 'cookie')));
    peer.auto.set('AUTHENTICATE', '250 OK\r\n');
    const { result: err, log } = await withDebugCapture(() => rejection(openTorControl(peer.endpoint)));
    assert.ok(!peer.received.some((l) => l.startsWith('AUTHENTICATE')), 'no AUTHENTICATE');
    assert.ok(err instanceof TorAuthError);
    assert.match((err as Error).message, /COOKIE: refused without SAFECOOKIE/);
    const secrets = { 'cookie hex': cookieHex, 'COOKIE HEX': cookieHex.toUpperCase() };
    assertNoSecret(errorRenderings(err), secrets, 'the auth error');
    assertNoSecret(log, secrets, 'the debug log');
  });

  it('SAFECOOKIE: neither the cookie nor the client hash is logged or kept', async () => {
    const serverNonce = Buffer.alloc(32, 9);
    let clientHash = '';
    peer.auto.set('PROTOCOLINFO', PROTOCOLINFO('SAFECOOKIE', path.join(dir, 'cookie')));
    peer.auto.set('AUTHCHALLENGE', (line) => {
      const clientNonce = Buffer.from(line.split(' ')[2]!, 'hex');
      const message = Buffer.concat([cookie, clientNonce, serverNonce]);
      clientHash = createHmac('sha256', 'Tor safe cookie authentication controller-to-server hash').update(message).digest('hex');
      const hash = createHmac('sha256', 'Tor safe cookie authentication server-to-controller hash').update(message).digest('hex');
      return `250 AUTHCHALLENGE SERVERHASH=${hash} SERVERNONCE=${serverNonce.toString('hex')}\r\n`;
    });
    peer.auto.set('AUTHENTICATE', '250 OK\r\n');
    const { result, log } = await withDebugCapture(() => openTorControl(peer.endpoint));
    assert.equal(peer.received.at(-1), `AUTHENTICATE ${clientHash}`);
    const secrets = { 'cookie hex': cookieHex, 'client hash': clientHash, 'CLIENT HASH': clientHash.toUpperCase() };
    assertNoSecret(log, secrets, 'the debug log');
    assertNoSecret(renderings(result.control), secrets, 'the TorControl object');
    result.control.destroy();
  });
});

// ------------------------------------------------------------------ onion keys

describe('secrets: onion service keys and client authorization', () => {
  let fake: FakeControlServer;
  let tor: Tor;
  const ONION = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid';
  const blob = Buffer.alloc(64, 0x5a).toString('base64');
  const KEY = `ED25519-V3:${blob}`;
  const generatedBlob = Buffer.alloc(64, 0x6b).toString('base64');
  let refuse = false;
  /** Refuse as tor 0.4.9 does a key it cannot use: quoting the key back in the reply. */
  let echo = false;

  before(async () => {
    fake = await FakeControlServer.start();
    fake.handle(/^ADD_ONION /, (line) => {
      if (echo) return [`512 Failed to decode key "${line.split(' ')[1]!}"`];
      if (refuse) return ['550 Onion address collision'];
      const generated = line.startsWith('ADD_ONION NEW:') ? [`250-PrivateKey=ED25519-V3:${generatedBlob}`] : [];
      const auth = [...line.matchAll(/ClientAuthV3=(\S+)/g)].map(() => `250-ClientAuthV3=ignored`);
      return [`250-ServiceID=${ONION}`, ...generated, ...auth, '250 OK'];
    });
    fake.handle(/^DEL_ONION /, () => ['250 OK']);
    fake.handle(/^ONION_CLIENT_AUTH_(ADD|REMOVE) /, (line) => {
      if (echo) return [`553 Invalid private key "${line.split(' ')[2]!.replace(/^x25519:/, '')}"`];
      return refuse ? ['551 Unable to add client authorization'] : ['250 OK'];
    });
    fake.handle(/^ONION_CLIENT_AUTH_VIEW/, () => [`250-ONION_CLIENT_AUTH_VIEW`, `250-CLIENT ${ONION} x25519:${Buffer.alloc(32, 0x33).toString('base64')} ClientName=carol`, '250 OK']);
    const { control } = await openTorControl(fake.endpoint);
    tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
  });
  after(async () => {
    await tor?.close();
    await fake?.close();
  });
  afterEach(() => {
    refuse = false;
    echo = false;
  });

  it('a given private key and client-auth keys: absent from the log, the service object and its JSON', async () => {
    const { result: service, log } = await withDebugCapture(() =>
      tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], privateKey: KEY, clientAuth: ['alice', 'bob'], awaitUpload: false }),
    );
    const sent = fake.commands.find((c) => c.startsWith('ADD_ONION ED25519-V3:'))!;
    assert.ok(sent.includes(blob), 'the key was sent');
    assert.equal(service.privateKey, KEY, 'and is readable by the owner');
    const secrets: Record<string, string> = { 'private key': blob };
    for (const c of service.clientAuth!) secrets[`client ${c.name} private key`] = c.privateKey!;
    assertNoSecret(log, secrets, 'the debug log');
    assertNoSecret(renderings(service) + renderings(service.clientAuth) + renderings(tor), secrets, 'the OnionService object');
    await service.close();
  });

  it('a key tor generated (PrivateKey= in the reply) is not logged', async () => {
    const { result: service, log } = await withDebugCapture(() =>
      tor.createOnionService({ ports: [{ virtualPort: 81, target: '127.0.0.1:9' }], awaitUpload: false }),
    );
    assert.equal(service.privateKey, `ED25519-V3:${generatedBlob}`);
    assertNoSecret(log + renderings(service), { 'generated key': generatedBlob }, 'the log or the service');
    await service.close();
  });

  it('tor refusing ADD_ONION / ONION_CLIENT_AUTH_ADD: the errors hold no key', async () => {
    refuse = true;
    const client = generateClientAuthKey('dave');
    const clientB64 = Buffer.from(client.privateKey.length ? decodeBase32(client.privateKey) : []).toString('base64');
    const { result: errors, log } = await withDebugCapture(async () => [
      await rejection(tor.createOnionService({ ports: [{ virtualPort: 82, target: '127.0.0.1:9' }], privateKey: KEY, awaitUpload: false })),
      await rejection(tor.addOnionClientAuth(ONION, client.privateKey)),
    ]);
    const secrets = { 'private key': blob, 'client key (base32)': client.privateKey, 'client key (base64)': clientB64 };
    assert.ok(fake.commands.some((c) => c.includes(clientB64)), 'the client key was sent (base64, as tor wants it)');
    for (const err of errors) assertNoSecret(errorRenderings(err), secrets, `the error ${(err as Error).constructor.name}`);
    assertNoSecret(log, secrets, 'the debug log');
  });

  it('tor quoting the key back in its refusal (553 Invalid private key "<key>"): neither the error nor the log shows it', async () => {
    echo = true;
    const client = generateClientAuthKey('erin');
    const clientB64 = decodeBase32(client.privateKey).toString('base64');
    const { result: errors, log } = await withDebugCapture(async () => [
      await rejection(tor.addOnionClientAuth(ONION, client.privateKey)),
      await rejection(tor.createOnionService({ ports: [{ virtualPort: 83, target: '127.0.0.1:9' }], privateKey: KEY, awaitUpload: false })),
    ]);
    assert.ok(fake.commands.some((c) => c.includes(clientB64)), 'the client key was sent');
    const [authError, addError] = errors as Error[];
    assert.equal((authError as { code?: string }).code, 'TOR_CONTROL_ERROR');
    // What tor said stays readable, the key replaced.
    assert.match(authError!.message, /553 Invalid private key "\[redacted\]"/);
    assert.match(addError!.message, /Failed to decode key "ED25519-V3:\[redacted\]"/, "the key type, which is no secret, stays, as in the log");
    const secrets = { 'private key': blob, 'client key (base32)': client.privateKey, 'client key (base64)': clientB64 };
    for (const err of errors) assertNoSecret(errorRenderings(err), secrets, `the error ${(err as Error).constructor.name}`);
    assertNoSecret(log, secrets, 'the debug log');
  });

  it('ONION_CLIENT_AUTH_VIEW: listed keys do not show their private part', async () => {
    const listed = await tor.listOnionClientAuth();
    const key = Buffer.alloc(32, 0x33).toString('base64');
    assert.equal(listed.length, 1);
    assertNoSecret(renderings(listed), { 'listed private key': key }, 'the listed credentials');
  });
});

function decodeBase32(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const ch of text.toUpperCase()) {
    acc = (acc << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

// ------------------------------------------------------------------ SOCKS credentials

describe('secrets: SOCKS passwords and isolation tokens', () => {
  let fake: FakeControlServer;
  let socks: FakeSocksServer;
  let tor: Tor;
  const password = 'socks-Password-77';
  const isolate = 'isolation-Token-99';
  const secrets = { password, isolate };

  before(async () => {
    socks = await startFakeSocksServer({ authOk: false });
    fake = await FakeControlServer.start();
    fake.info({ 'net/listeners/socks': `"127.0.0.1:${socks.port}"` });
    const { control } = await openTorControl(fake.endpoint);
    tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
  });
  after(async () => {
    await tor?.close();
    await fake?.close();
    await socks?.close();
  });

  it('refused credentials: connect, resolve, fetch and agents fail without showing them', async () => {
    const { result: errors, log } = await withDebugCapture(async () => {
      const out: unknown[] = [];
      out.push(await rejection(tor.connect({ host: 'example.com', port: 80 }, { username: 'user', password })));
      out.push(await rejection(tor.connect({ host: 'example.com', port: 80 }, { isolate })));
      out.push(await rejection(tor.socks.resolve('example.com', { isolate })));
      out.push(await rejection(tor.fetch('http://example.com/', { isolate })));
      out.push(
        await rejection(
          new Promise((resolve, reject) => {
            http.get('http://example.com/', { agent: tor.httpAgent({ username: 'user', password }) }, resolve).on('error', reject);
          }),
        ),
      );
      return out;
    });
    // The credentials did reach the SOCKS server (so the flow was real).
    assert.ok(socks.connections.some((c) => c.request?.password === password || c.received.includes(Buffer.from(password))));
    assert.ok(socks.connections.some((c) => c.received.includes(Buffer.from(isolate))));
    for (const err of errors) {
      assert.equal((err as { code?: string }).code, 'TOR_SOCKS_AUTH_FAILED', String(err));
      assertNoSecret(errorRenderings(err), secrets, `the error ${String(err)}`);
    }
    assertNoSecret(log, secrets, 'the debug log');
  });

  it('http/https agents do not show the credentials they hold (util.inspect, JSON)', () => {
    const agents = [
      tor.httpAgent({ username: 'user', password }),
      tor.httpAgent({ isolate }),
      tor.httpAgent({ isolate, tls: true }),
      tor.httpAgent({ username: 'user', password, tls: { rejectUnauthorized: true } }),
    ];
    for (const agent of agents) assertNoSecret(renderings(agent), secrets, `util.inspect/JSON of ${agent.constructor.name}`);
  });

  it('the SOCKS client and the Tor handle do not show isolation tokens of past fetches', async () => {
    await rejection(tor.fetch('http://example.com/', { isolate }));
    assertNoSecret(renderings(tor.socks), secrets, 'util.inspect/JSON of tor.socks');
    assertNoSecret(renderings(tor), secrets, 'util.inspect/JSON of the Tor handle');
  });

  it('SOCKS_PASSWORD in CIRC/STREAM events: not in the state objects nor in the debug log', async () => {
    const FP = '790CDA8DBC6E3EE6A0047D6AED870A7720C5A38A';
    fake.info({ 'ns/all': '', 'circuit-status': '', 'stream-status': '', 'address-mappings/all': '', 'entry-guards': '' });
    const { result: state, log } = await withDebugCapture(async () => {
      const state = await tor.getState();
      const seen = new Promise<void>((resolve) => state.once('streamNew', () => resolve()));
      fake.event(`CIRC 5 BUILT $${FP}~auth0 PURPOSE=GENERAL SOCKS_USERNAME="torcon-isolate" SOCKS_PASSWORD="${isolate}"`);
      fake.event(`STREAM 9 NEW 0 example.com:80 SOURCE_ADDR=127.0.0.1:4444 PURPOSE=USER SOCKS_USERNAME="user" SOCKS_PASSWORD="${password}"`);
      fake.event(`STREAM 9 SENTCONNECT 5 example.com:80 SOCKS_USERNAME="user" SOCKS_PASSWORD="${password}"`);
      await seen;
      // A throwing listener makes the state log the event it was handling.
      state.on('streamClosed', () => {
        throw new Error('listener failure');
      });
      const closed = new Promise<void>((resolve) => state.once('streamClosed', () => resolve()));
      fake.event(`STREAM 9 CLOSED 5 example.com:80 REASON=DONE SOCKS_USERNAME="user" SOCKS_PASSWORD="${password}"`);
      await closed;
      return state;
    });
    assert.equal(state.circuits.get('5')?.status, 'BUILT');
    assertNoSecret(log, secrets, 'the debug log');
    assertNoSecret(renderings(state.circuits) + renderings([...state.circuits.values()]) + renderings(state), secrets, 'the state objects');
    await state.close();
  });
});
