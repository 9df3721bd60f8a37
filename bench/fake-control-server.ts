/**
 * A fake Tor control port that serves a benchmark corpus, for the state benchmark. It listens on
 * 127.0.0.1 only and contacts nothing.
 *
 * It speaks NULL authentication (PROTOCOLINFO, AUTHENTICATE) and answers GETINFO (several keys in
 * one command give one reply: `250-k=v` / `250+k=` data blocks, then `250 OK`), GETCONF, SETCONF,
 * SETEVENTS [EXTENDED], USEFEATURE, SIGNAL, TAKEOWNERSHIP and QUIT. Unknown keys get tor's 552,
 * unknown commands 510, commands before authentication 514 and a closed connection.
 *
 * Once a connection's SETEVENTS set covers CIRC, STREAM, ADDRMAP, BW and ORCONN, every corpus event
 * is written to it as fast as the socket takes them (64 KiB chunks cut at line ends; the next
 * chunk waits for 'drain' whenever write() reports a full buffer), followed by
 * `650 BW 0 0 BENCH_END=1`. Replies to commands sent meanwhile go out between chunks, as with tor.
 *
 * ADDRMAP expiry times are shifted (same byte length) so that the corpus' first event is "now",
 * as the reference fake does; `--no-shift-times` serves the bytes verbatim.
 *
 * Usage: node dist/bench/fake-control-server.js [--port N] [--corpus DIR] [--once] [--no-shift-times]
 *        [--chunk BYTES]. It prints `{"listening":PORT}` on stdout when ready and, per connection
 *        whose replay finished, `{"replayed":{...}}`.
 */

import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CORPUS_DIR, END_MARKER } from './corpus-generator.js';
import { ensureCorpus, loadCorpus, type LoadedCorpus } from './corpus-files.js';

/** Options of {@link FakeControlServer}. */
export interface FakeControlServerOptions {
  /** Replay write size in bytes (cut back to a line end). @default 65536 */
  chunkSize?: number;
  /** Shift ADDRMAP/address-mappings expiry times so that the first event is now. @default true */
  shiftTimes?: boolean;
  /** Tor version to claim. @default "0.4.8.12" */
  version?: string;
  /** Called when a connection's replay is complete. */
  onReplayed?: (stats: ReplayStats) => void;
}

/** What one connection's replay took. */
export interface ReplayStats {
  connection: number;
  events: number;
  bytes: number;
  /** Seconds from the first chunk to the end marker being handed to the socket. */
  seconds: number;
  /** How many times a write had to wait for 'drain'. */
  drainWaits: number;
}

const DEFAULTS = { chunkSize: 65536, shiftTimes: true, version: '0.4.8.12' } as const;

/** The events that must all be subscribed before the replay starts. */
export const REPLAY_EVENTS = ['CIRC', 'STREAM', 'ADDRMAP', 'BW', 'ORCONN'] as const;

const EVENT_NAMES =
  'CIRC CIRC_MINOR STREAM ORCONN BW DEBUG INFO NOTICE WARN ERR NEWDESC ADDRMAP DESCCHANGED NS STATUS_GENERAL ' +
  'STATUS_CLIENT STATUS_SERVER GUARD STREAM_BW CLIENTS_SEEN NEWCONSENSUS BUILDTIMEOUT_SET SIGNAL CONF_CHANGED ' +
  'CONN_BW CELL_STATS CIRC_BW TRANSPORT_LAUNCHED HS_DESC HS_DESC_CONTENT NETWORK_LIVENESS PT_LOG PT_STATUS';
const SIGNALS = 'RELOAD HUP SHUTDOWN INT DUMP USR1 DEBUG USR2 HALT TERM NEWNYM CLEARDNSCACHE HEARTBEAT ACTIVE DORMANT';
const FEATURES = ['VERBOSE_NAMES', 'EXTENDED_EVENTS'];

/** name, type, value (undefined: at its default, GETCONF prints the bare name). */
const CONFIG: ReadonlyArray<[string, string, string | undefined]> = [
  ['AvoidDiskWrites', 'Boolean', '0'],
  ['BandwidthRate', 'DataSize', '1073741824'],
  ['BandwidthBurst', 'DataSize', '1073741824'],
  ['Bridge', 'LineList', undefined],
  ['CircuitBuildTimeout', 'TimeInterval', '60'],
  ['ClientOnly', 'Boolean', '0'],
  ['ContactInfo', 'String', undefined],
  ['ControlPort', 'LineList', undefined],
  ['CookieAuthentication', 'Boolean', '0'],
  ['DataDirectory', 'Filename', '/var/lib/tor'],
  ['DisableNetwork', 'Boolean', '0'],
  ['DNSPort', 'LineList', undefined],
  ['EntryNodes', 'RouterList', undefined],
  ['ExitNodes', 'RouterList', undefined],
  ['ExitPolicy', 'LineList', undefined],
  ['GeoIPFile', 'Filename', '/usr/share/tor/geoip'],
  ['GeoIPv6File', 'Filename', '/usr/share/tor/geoip6'],
  ['HashedControlPassword', 'LineList', undefined],
  ['HiddenServiceDir', 'Dependent', undefined],
  ['HiddenServiceOptions', 'Virtual', undefined],
  ['HiddenServicePort', 'Dependent', undefined],
  ['Log', 'LineList', 'notice stdout'],
  ['MaxCircuitDirtiness', 'TimeInterval', '600'],
  ['Nickname', 'String', undefined],
  ['ORPort', 'LineList', undefined],
  ['SafeLogging', 'String', '1'],
  ['SocksPort', 'LineList', '127.0.0.1:9050'],
  ['StrictNodes', 'Boolean', '0'],
  ['UseBridges', 'Boolean', '0'],
  ['UseEntryGuards', 'Boolean', '1'],
  ['UseMicrodescriptors', 'Boolean+Auto', 'auto'],
  ['__DisablePredictedCircuits', 'Boolean', '0'],
  ['__LeaveStreamsUnattached', 'Boolean', '0'],
  ['__OwningControllerProcess', 'String', undefined],
];
const COUNTRIES = ['de', 'us', 'nl', 'fr', 'ch', 'se', 'fi', 'ca', 'gb', 'at', 'ro', 'pl', 'lu', 'no', 'is'];

/** One GETINFO entry (control-spec 3.9): `250-key=value`, or `250+key=` and a dot-stuffed data block. */
function infoEntry(key: string, value: string): Buffer {
  const v = value.replace(/\n+$/, '');
  if (!v.includes('\n')) return Buffer.from(`250-${key}=${v}\r\n`, 'latin1');
  const body = v
    .split('\n')
    .map((l) => (l.startsWith('.') ? '.' + l : l) + '\r\n')
    .join('');
  return Buffer.from(`250+${key}=\r\n${body}.\r\n`, 'latin1');
}

const TIME_RE = /"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)"/g;

/** Moves every quoted `"YYYY-MM-DD HH:MM:SS"` by `shift` seconds (same length, so same byte counts). */
function shiftTimes(text: string, shift: number): string {
  const cache = new Map<string, string>();
  return text.replace(TIME_RE, (m, y: string, mo: string, d: string, h: string, mi: string, s: string) => {
    let r = cache.get(m);
    if (r === undefined) {
      const t = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s) + shift * 1000;
      const iso = new Date(t).toISOString();
      r = `"${iso.slice(0, 10)} ${iso.slice(11, 19)}"`;
      cache.set(m, r);
    }
    return r;
  });
}

/** Cuts `blob` into pieces of at most `size` bytes ending at line ends. */
function chunkAtLines(blob: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < blob.length) {
    let j = Math.min(i + size, blob.length);
    if (j < blob.length) {
      const lf = blob.lastIndexOf(0x0a, j - 1);
      j = lf >= i ? lf + 1 : blob.indexOf(0x0a, i) + 1 || blob.length;
    }
    out.push(blob.subarray(i, j));
    i = j;
  }
  return out;
}

/** A fake control port over one corpus; every connection gets its own replay. */
export class FakeControlServer {
  private readonly corpus: LoadedCorpus;
  private readonly opts: Required<Omit<FakeControlServerOptions, 'onReplayed'>> & Pick<FakeControlServerOptions, 'onReplayed'>;
  private readonly server: net.Server;
  private readonly info = new Map<string, Buffer>();
  private readonly chunks: Buffer[];
  private readonly eventCount: number;
  private readonly sockets = new Set<net.Socket>();
  private nsById: Map<string, string> | null = null;
  private nsByName: Map<string, string> | null = null;
  private readonly config = new Map<string, [string, string | undefined]>();
  private connections = 0;
  private port = 0;
  private readonly started = Date.now();

  /** @param corpus a loaded corpus @param opts see {@link FakeControlServerOptions} */
  constructor(corpus: LoadedCorpus, opts: FakeControlServerOptions = {}) {
    this.corpus = corpus;
    this.opts = { ...DEFAULTS, ...opts };
    const shift = this.opts.shiftTimes ? Math.floor(Date.now() / 1000 - (corpus.meta.base_ts + corpus.meta.warmup_s)) : 0;
    const events = shift ? Buffer.from(shiftTimes(corpus.events.toString('latin1'), shift), 'latin1') : corpus.events;
    const am = shift ? shiftTimes(corpus.addressMappings.toString('latin1'), shift) : corpus.addressMappings.toString('latin1');
    this.chunks = chunkAtLines(events, this.opts.chunkSize);
    let n = 0;
    for (let i = events.indexOf(0x0a); i !== -1; i = events.indexOf(0x0a, i + 1)) n++;
    this.eventCount = n;
    for (const [name, , value] of CONFIG) this.config.set(name.toLowerCase(), [name, value]);
    const statics: Record<string, string> = {
      version: `${this.opts.version} (git-0000000000000000)`,
      'config-file': '/etc/tor/torrc',
      'ns/all': corpus.nsAll.toString('latin1'),
      'circuit-status': corpus.circuitStatus.toString('latin1'),
      'stream-status': corpus.streamStatus.toString('latin1'),
      'orconn-status': corpus.orconnStatus.toString('latin1'),
      'address-mappings/all': am,
      'address-mappings/cache': am,
      'address-mappings/config': '',
      'address-mappings/control': '',
      'entry-guards': corpus.entryGuards.toString('latin1'),
      'config/names': CONFIG.map(([n, t]) => `${n} ${t}`).join('\n'),
      'config/defaults': CONFIG.filter(([, , v]) => v !== undefined).map(([n, , v]) => `${n} ${v}`).join('\n'),
      'events/names': EVENT_NAMES,
      'features/names': FEATURES.join(' '),
      'signal/names': SIGNALS,
      'status/bootstrap-phase': 'NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"',
      'status/circuit-established': '1',
      'status/enough-dir-info': '1',
      'status/version/current': 'recommended',
      'net/listeners/socks': '"127.0.0.1:9050"',
      'net/listeners/dns': '',
      'net/listeners/trans': '',
      'net/listeners/natd': '',
      dormant: '0',
      'onions/current': '',
      'onions/detached': '',
      'process/pid': String(process.pid),
      'process/user': 'debian-tor',
      'ip-to-country/ipv4-available': '1',
      'ip-to-country/ipv6-available': '1',
    };
    for (const [k, v] of Object.entries(statics)) this.info.set(k, infoEntry(k, v));
    const names = [...this.info.keys(), 'ns/id/*', 'ns/name/*', 'ip-to-country/*', 'uptime', 'traffic/read', 'traffic/written', 'net/listeners/control', 'info/names'];
    this.info.set('info/names', infoEntry('info/names', names.sort().map((n) => `${n} -- fake`).join('\n')));
    this.server = net.createServer((socket) => this.handle(socket));
  }

  /**
   * Listens on 127.0.0.1.
   * @param port 0 for any free port
   * @returns the port
   */
  listen(port = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as net.AddressInfo).port;
        this.config.set('controlport', ['ControlPort', `127.0.0.1:${this.port}`]);
        this.info.set('net/listeners/control', infoEntry('net/listeners/control', `"127.0.0.1:${this.port}"`));
        resolve(this.port);
      });
    });
  }

  /** Stops listening and drops every connection. */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Resolves when the last connection has closed (for `--once`). */
  onceIdle(): Promise<void> {
    return new Promise((resolve) => this.server.once('connection-gone', resolve));
  }

  private lookup(key: string): Buffer | undefined {
    const fixed = this.info.get(key);
    if (fixed) return fixed;
    if (key.startsWith('ip-to-country/')) {
      const ip = key.slice(14);
      let h = 0;
      for (let i = 0; i < ip.length; i++) h = (Math.imul(h, 31) + ip.charCodeAt(i)) >>> 0;
      return infoEntry(key, COUNTRIES[h % COUNTRIES.length]!);
    }
    if (key.startsWith('ns/id/') || key.startsWith('ns/name/')) {
      this.indexNs();
      const entry = key.startsWith('ns/id/')
        ? this.nsById!.get(key.slice(6).replace(/^\$/, '').split(/[~=]/)[0]!.toUpperCase())
        : this.nsByName!.get(key.slice(8).toLowerCase());
      return entry === undefined ? undefined : infoEntry(key, entry);
    }
    if (key === 'uptime') return infoEntry(key, String(Math.floor((Date.now() - this.started) / 1000)));
    if (key === 'traffic/read' || key === 'traffic/written') return infoEntry(key, '123456789');
    return undefined;
  }

  private indexNs(): void {
    if (this.nsById) return;
    this.nsById = new Map();
    this.nsByName = new Map();
    const text = this.corpus.nsAll.toString('latin1');
    const parts = text.split(/\n(?=r )/);
    for (const entry of parts) {
      const r = entry.slice(0, entry.indexOf('\n') >>> 0).split(' ');
      if (r[0] !== 'r' || r.length < 3) continue;
      const fp = Buffer.from(r[2]!, 'base64').toString('hex').toUpperCase();
      this.nsById.set(fp, entry.replace(/\n$/, ''));
      if (!this.nsByName.has(r[1]!.toLowerCase())) this.nsByName.set(r[1]!.toLowerCase(), entry.replace(/\n$/, ''));
    }
  }

  private handle(socket: net.Socket): void {
    const conn = ++this.connections;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    let authed = false;
    let subscribed = new Set<string>();
    let replaying = false;
    let carry = '';
    let multi: string[] | null = null;
    const send = (data: string | Buffer): void => {
      if (!socket.destroyed) socket.write(data);
    };
    const command = (line: string): boolean => {
      const sp = line.indexOf(' ');
      const kw = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
      const rest = sp < 0 ? '' : line.slice(sp + 1).trim();
      const args = rest ? rest.split(/\s+/) : [];
      if (!authed && kw !== 'PROTOCOLINFO' && kw !== 'AUTHENTICATE' && kw !== 'AUTHCHALLENGE' && kw !== 'QUIT') {
        send('514 Authentication required.\r\n');
        socket.end();
        return false;
      }
      switch (kw) {
        case 'PROTOCOLINFO':
          send(`250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor="${this.opts.version}"\r\n250 OK\r\n`);
          break;
        case 'AUTHENTICATE':
          authed = true;
          send('250 OK\r\n');
          break;
        case 'AUTHCHALLENGE':
          send('513 AUTHCHALLENGE only supports SAFECOOKIE authentication\r\n');
          break;
        case 'GETINFO': {
          if (args.length === 0) {
            send('512 Missing argument to GETINFO\r\n');
            break;
          }
          const parts: Buffer[] = [];
          for (const key of args) {
            const v = this.lookup(key);
            if (v === undefined) {
              send(`552 Unrecognized key "${key}"\r\n`);
              return true;
            }
            parts.push(v);
          }
          parts.push(Buffer.from('250 OK\r\n'));
          // The prepared entries are written as they are (corked into one write), not concatenated:
          // a 2 MB copy per request is fresh memory, and its cost would be in every ready figure.
          if (!socket.destroyed) {
            socket.cork();
            for (const part of parts) socket.write(part);
            socket.uncork();
          }
          break;
        }
        case 'GETCONF': {
          if (args.length === 0) {
            send('250 OK\r\n');
            break;
          }
          const lines: string[] = [];
          for (const key of args) {
            const e = this.config.get(key.toLowerCase());
            if (e === undefined) {
              send(`552 Unrecognized configuration key "${key}"\r\n`);
              return true;
            }
            lines.push(e[1] === undefined ? e[0] : `${e[0]}=${e[1]}`);
          }
          send(lines.map((l, i) => `250${i < lines.length - 1 ? '-' : ' '}${l}\r\n`).join(''));
          break;
        }
        case 'SETCONF':
        case 'RESETCONF':
          for (const a of args) {
            const [k, v] = a.split('=', 2) as [string, string | undefined];
            const e = this.config.get(k.toLowerCase());
            if (e) this.config.set(k.toLowerCase(), [e[0], v?.replace(/^"|"$/g, '')]);
          }
          send('250 OK\r\n');
          break;
        case 'SETEVENTS': {
          const names = args.map((a) => a.toUpperCase()).filter((a) => a !== 'EXTENDED');
          const known = new Set(EVENT_NAMES.split(' '));
          const bad = names.find((n) => !known.has(n));
          if (bad) {
            send(`552 Unrecognized event "${bad}"\r\n`);
            break;
          }
          subscribed = new Set(names);
          send('250 OK\r\n');
          if (!replaying && REPLAY_EVENTS.every((e) => subscribed.has(e))) {
            replaying = true;
            void this.replay(socket, conn);
          }
          break;
        }
        case 'USEFEATURE': {
          const bad = args.find((a) => !FEATURES.includes(a.toUpperCase()));
          send(bad ? `552 Unrecognized feature "${bad}"\r\n` : '250 OK\r\n');
          break;
        }
        case 'SIGNAL':
          send(SIGNALS.split(' ').includes((args[0] ?? '').toUpperCase()) ? '250 OK\r\n' : `552 Unrecognized signal code "${args[0] ?? ''}"\r\n`);
          break;
        case 'TAKEOWNERSHIP':
        case 'DROPOWNERSHIP':
        case 'SAVECONF':
          send('250 OK\r\n');
          break;
        case 'QUIT':
          send('250 closing connection\r\n');
          socket.end();
          return false;
        default:
          send(`510 Unrecognized command "${kw}"\r\n`);
      }
      return true;
    };
    socket.on('data', (data: Buffer) => {
      const text = carry + data.toString('latin1');
      const lines = text.split('\n');
      carry = lines.pop()!;
      for (const raw of lines) {
        const line = raw.replace(/\r$/, '');
        if (multi !== null) {
          // a "+" command: its data runs to a lone "."
          if (line === '.') {
            const first = multi[0]!;
            multi = null;
            if (!command(first)) return;
          } else multi.push(line);
          continue;
        }
        if (line.startsWith('+')) {
          multi = [line.slice(1)];
          continue;
        }
        if (!command(line)) return;
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.sockets.delete(socket);
      if (this.sockets.size === 0) this.server.emit('connection-gone');
    });
  }

  private async replay(socket: net.Socket, conn: number): Promise<void> {
    const t0 = performance.now();
    let drainWaits = 0;
    let bytes = 0;
    for (const chunk of this.chunks) {
      if (socket.destroyed) return;
      bytes += chunk.length;
      if (!socket.write(chunk)) {
        drainWaits++;
        if (!(await drained(socket))) return;
      }
    }
    const marker = Buffer.from(END_MARKER + '\r\n');
    socket.write(marker);
    bytes += marker.length;
    this.opts.onReplayed?.({
      connection: conn,
      events: this.eventCount + 1,
      bytes,
      seconds: (performance.now() - t0) / 1000,
      drainWaits,
    });
  }
}

/** Resolves true on 'drain', false if the socket closes first. */
function drained(socket: net.Socket): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  });
}

async function main(argv: string[]): Promise<void> {
  let port = 0;
  let dir: string | undefined;
  let once = false;
  const opts: FakeControlServerOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--port') port = Number(val());
    else if (a === '--corpus') dir = path.resolve(val());
    else if (a === '--once') once = true;
    else if (a === '--no-shift-times') opts.shiftTimes = false;
    else if (a === '--chunk') opts.chunkSize = Number(val());
    else throw new Error(`unknown argument ${a} (try --port N --corpus DIR --once --no-shift-times --chunk BYTES)`);
  }
  const corpus = dir ? loadCorpus(dir) : ensureCorpus(DEFAULT_CORPUS_DIR);
  opts.onReplayed = (s) => process.stdout.write(JSON.stringify({ replayed: s }) + '\n');
  const server = new FakeControlServer(corpus, opts);
  const bound = await server.listen(port);
  process.stdout.write(JSON.stringify({ listening: bound }) + '\n');
  if (once) {
    await server.onceIdle();
    await server.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`fake-control-server: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
