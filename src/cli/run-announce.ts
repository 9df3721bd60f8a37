import net from 'node:net';
import tls from 'node:tls';
import { endpointListenDescription } from '../register.js';
import { redactEndpoint } from '../util/endpoint-grammar.js';
import { CLIENT_AUTH_HINT, clientAuthLines } from './client-auth-lines.js';

/**
 * Loaded into the app by `torcon run` (`NODE_OPTIONS=--import .../run-announce.js`), never by
 * anything else. Importing it installs `torcon/register`'s listen hook, then says on stderr where
 * each endpoint listen landed, because the app itself knows nothing of onion addresses: an
 * unchanged `server.listen(process.env.PORT, () => console.log('listening'))` would otherwise
 * leave the user without the address to visit.
 *
 * Lines (stderr, which the app shares with `torcon run`):
 *
 *     torcon run: publishing onion:80 for pid 1234…
 *     torcon run: onion:80 is http://<56 chars>.onion/ (the app listens on 127.0.0.1:PORT)
 *
 * (`https://` for a server that speaks TLS itself),
 * (for other endpoints, which are not published: `listening on tcp:8080 for pid 1234…`, then
 * `tcp:8080 is 127.0.0.1:8080`),
 *
 * and, for `clientAuth=alice`, the client's key (see client-auth-lines.ts), a secret for the
 * operator, printed only here:
 *
 *     torcon run: client authorization: each client needs its NAME.auth_private line, ...
 *     torcon run: alice.auth_private: <56 chars>:descriptor:x25519:<52 chars>
 *
 * The mechanism rests on what the register hook documents: a server listening on an endpoint
 * string gets `server.torconEndpoint` (and, for `onion:`, `server.onionAddress`) before its
 * `'listening'` event. `NODE_OPTIONS` reaches every Node process the command starts (`npm start`
 * runs npm, then the app), so only processes that listen on an endpoint print anything.
 */

type Listen = (this: net.Server, ...args: unknown[]) => net.Server;
const WRAPPED = Symbol.for('torcon.cli.runAnnounce');
const proto = net.Server.prototype as typeof net.Server.prototype & { [WRAPPED]?: true };

if (!proto[WRAPPED]) {
  Object.defineProperty(proto, WRAPPED, { value: true });
  const hooked = proto.listen as unknown as Listen;
  proto.listen = function listen(this: net.Server, ...args: unknown[]): net.Server {
    const description = endpointListenDescription(this, args);
    if (description !== undefined) {
      endpointListened = true;
      // Only an onion service is published (its descriptor uploaded); tcp:, unix:, tls: just listen.
      say(`${isOnion(description) ? 'publishing' : 'listening on'} ${redactEndpoint(description)} for pid ${process.pid}…`);
      // Added before the hook's listen, from outside torcon's own work: it hears the one
      // 'listening' the hook emits once the endpoint is up, before the listen callback the hook
      // adds then, so the address is printed before the app's own "listening" message.
      this.once('listening', () => announce(this, description));
    } else {
      this.once('listening', () => notOnPort(this));
    }
    return hooked.apply(this, args);
  } as typeof proto.listen;
}

/** Whether this process listened on an endpoint string (its $PORT, as `torcon run` means it to). */
let endpointListened = false;
/** Whether {@link notOnPort} spoke (once per process). */
let toldNotOnPort = false;

/**
 * A TCP listen on a port of the app's own, while no listen in this process took $PORT: an app that
 * reads PORT as a number (`Number(process.env.PORT) || 3000`; Number("onion:80") is NaN) listens
 * there, and without this line `torcon run` would say nothing more, the service never published.
 * Said once per process, as a fact and a hint: an app may also listen elsewhere on purpose (metrics).
 */
function notOnPort(server: net.Server): void {
  const port = process.env['PORT'];
  if (toldNotOnPort || endpointListened || port === undefined || port === '') return;
  const local = server.address();
  if (local === null || typeof local !== 'object') return;
  toldNotOnPort = true;
  const host = local.family === 'IPv6' ? `[${local.address}]` : local.address;
  say(
    `pid ${process.pid} listens on ${host}:${local.port}, not on $PORT (${redactEndpoint(port)}): ` +
      'to serve there, pass process.env.PORT to listen() as it is (Number() of it is NaN)',
  );
}

/**
 * Endpoints already announced: an app that calls listen() twice gets one endpoint (the second call
 * is an 'error') but has added two of our 'listening' listeners, and its keys must not be printed twice.
 */
const announced = new WeakSet<object>();

function announce(server: net.Server, description: string): void {
  const endpoint = server.torconEndpoint;
  if (!endpoint || announced.has(endpoint)) return;
  announced.add(endpoint);
  // Where the app listens is news only when the address is elsewhere (an onion service's).
  const local = server.address();
  const where = isOnion(description) && local && typeof local === 'object' ? ` (the app listens on ${local.address}:${local.port})` : '';
  say(`${redactEndpoint(description)} is ${urlOf(endpoint.address, server.onionAddress !== undefined, server instanceof tls.Server)}${where}`);
  // clientAuth=: the app cannot pass the keys on, and they are generated anew for this service,
  // so they come here, beside the address, the one time they are known.
  const keys = clientAuthLines(endpoint);
  if (keys.length > 0) {
    say(CLIENT_AUTH_HINT);
    for (const line of keys) say(line);
  }
}

/**
 * Whether an endpoint string the hook took is an `onion:` one. Read from the prefix alone, which
 * the hook has checked: the rest may not parse, and that is the app's 'error', not a throw here.
 */
function isOnion(description: string): boolean {
  return description.slice(0, description.indexOf(':')).toLowerCase() === 'onion';
}

/**
 * `x.onion:80` → `http://x.onion/`; other ports keep theirs; non-onion endpoints print as they are.
 * A server that speaks TLS itself (`https.createServer`, `http2.createSecureServer`) gets
 * `https://`, without its default port 443: `http://x.onion:443/` would send plain HTTP to it.
 */
function urlOf(address: string, onion: boolean, secure: boolean): string {
  if (!onion) return address;
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) return address;
  const [scheme, defaultPort] = secure ? ['https', '443'] : ['http', '80'];
  return m[2] === defaultPort ? `${scheme}://${m[1]}/` : `${scheme}://${m[1]}:${m[2]}/`;
}

function say(text: string): void {
  process.stderr.write(`torcon run: ${text}\n`);
}
