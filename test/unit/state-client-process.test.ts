import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { decodeProcAddress, findClientProcess, listenerPeers } from '../../src/state/client-process.js';
import { normalizeAddress } from '../../src/util/ip-address.js';

const TCP_HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';

/** One /proc/net/tcp row. */
function row(local: string, remote: string, inode: number, st = '01'): string {
  return `   0: ${local} ${remote} ${st} 00000000:00000000 00:00000000 00000000  1000        0 ${inode} 1 0000000000000000 20 4 30 10 -1\n`;
}

describe('state: client process lookup', () => {
  describe('address helpers', () => {
    it('decodes /proc/net/tcp addresses', () => {
      assert.equal(decodeProcAddress('0100007F'), '127.0.0.1');
      assert.equal(decodeProcAddress('0A00A8C0'), '192.168.0.10');
      assert.equal(decodeProcAddress('00000000000000000000000001000000'), '0:0:0:0:0:0:0:1');
      // IPv4-mapped ::ffff:127.0.0.1 as /proc/net/tcp6 writes it
      assert.equal(decodeProcAddress('0000000000000000FFFF00000100007F'), '127.0.0.1');
      assert.equal(decodeProcAddress('B80D0120000000000000000001000000'), '2001:db8:0:0:0:0:0:1');
      assert.equal(decodeProcAddress('123'), null);
      assert.equal(decodeProcAddress('zz00007F'), null);
    });

    it('normalizes addresses so that equal ones compare equal', () => {
      assert.equal(normalizeAddress('127.0.0.1'), '127.0.0.1');
      assert.equal(normalizeAddress('::1'), '0:0:0:0:0:0:0:1');
      assert.equal(normalizeAddress('[::1]'), '0:0:0:0:0:0:0:1');
      assert.equal(normalizeAddress('::ffff:127.0.0.1'), '127.0.0.1');
      assert.equal(normalizeAddress('2001:DB8::1'), '2001:db8:0:0:0:0:0:1');
      assert.equal(normalizeAddress('fe80::1%eth0'), 'fe80:0:0:0:0:0:0:1');
      for (const bad of ['example.com', '1.2.3', '256.1.1.1', '1::2::3', '12345::', '(Tor_internal)']) {
        assert.equal(normalizeAddress(bad), null, bad);
      }
    });
  });

  describe('against a fake /proc tree', () => {
    let root: string;

    before(async () => {
      root = await mkdtemp(path.join(os.tmpdir(), 'torcon-proc-'));
      await mkdir(path.join(root, 'net'));
      await writeFile(
        path.join(root, 'net', 'tcp'),
        TCP_HEADER +
          row('0100007F:C350', '0100007F:235A', 5555) + // 127.0.0.1:50000 -> 127.0.0.1:9050 (the client)
          row('0100007F:235A', '0100007F:C350', 6666) + // tor's side of the same connection
          row('0100007F:C351', '0100007F:235A', 0) + // TIME_WAIT: no inode
          row('0100007F:C353', '0500000A:01BB', 8888) + // 127.0.0.1:50003 -> 10.0.0.5:443: not a SOCKS connection
          row('0100007F:C354', '00000000:0000', 9999, '0A'), // 127.0.0.1:50004 listening
      );
      await writeFile(
        path.join(root, 'net', 'tcp6'),
        TCP_HEADER + row('00000000000000000000000001000000:C352', '00000000000000000000000001000000:235A', 7777),
      );
      const proc = async (pid: number, fds: Record<string, string>, cmdline: string | null, comm: string) => {
        await mkdir(path.join(root, String(pid), 'fd'), { recursive: true });
        for (const [fd, target] of Object.entries(fds)) await symlink(target, path.join(root, String(pid), 'fd', fd));
        if (cmdline !== null) await writeFile(path.join(root, String(pid), 'cmdline'), cmdline);
        await writeFile(path.join(root, String(pid), 'comm'), comm + '\n');
      };
      await proc(100, { '0': '/dev/null', '3': 'socket:[6666]' }, 'tor\x00-f\x00torrc\x00', 'tor');
      await proc(200, { '0': '/dev/null', '5': 'socket:[5555]' }, 'curl\x00--socks5-hostname\x00127.0.0.1:9050\x00http://example.com\x00', 'curl');
      await proc(300, { '7': 'socket:[7777]' }, '', 'kworker');
      await proc(400, { '4': 'socket:[8888]' }, 'wget\x00https://10.0.0.5/\x00', 'wget');
      await proc(500, { '6': 'socket:[9999]' }, 'httpd\x00', 'httpd');
      await mkdir(path.join(root, 'self'));
      await writeFile(path.join(root, 'uptime'), '1 1\n');
    });

    after(async () => {
      await rm(root, { recursive: true, force: true });
    });

    it('finds the process holding the socket whose local end is the address', async () => {
      assert.deepEqual(await findClientProcess('127.0.0.1', 50000, { procRoot: root }), {
        pid: 200,
        command: 'curl --socks5-hostname 127.0.0.1:9050 http://example.com',
      });
    });

    it('reads IPv6 sockets and falls back to comm for an empty cmdline', async () => {
      assert.deepEqual(await findClientProcess('::1', 50002, { procRoot: root }), { pid: 300, command: 'kworker' });
    });

    it("counts only a socket connected to one of tor's SOCKS listeners, when they are known, and never a listening one", async () => {
      const socks = [{ host: '127.0.0.1', port: 9050 }];
      assert.equal((await findClientProcess('127.0.0.1', 50000, { procRoot: root, peers: socks }))?.pid, 200);
      assert.equal((await findClientProcess('127.0.0.1', 50000, { procRoot: root, peers: [{ host: undefined, port: 9050 }] }))?.pid, 200);
      assert.equal(await findClientProcess('127.0.0.1', 50000, { procRoot: root, peers: [{ host: '127.0.0.1', port: 9150 }] }), undefined);
      // A port the client gave up, now another process's connection elsewhere, or a listening server.
      assert.equal(await findClientProcess('127.0.0.1', 50003, { procRoot: root, peers: socks }), undefined);
      assert.equal((await findClientProcess('127.0.0.1', 50003, { procRoot: root }))?.pid, 400, 'without the listeners: any connection');
      assert.equal(await findClientProcess('127.0.0.1', 50004, { procRoot: root }), undefined);
      assert.equal(await findClientProcess('127.0.0.1', 50004, { procRoot: root, peers: socks }), undefined);
    });

    it("reads tor's SOCKS listeners from GETINFO net/listeners/socks", () => {
      assert.deepEqual(listenerPeers('"127.0.0.1:9050" "[::1]:9150" "unix:/run/tor/socks" "0.0.0.0:9052" "[::]:9053" 127.0.0.2:9054'), [
        { host: '127.0.0.1', port: 9050 },
        { host: '0:0:0:0:0:0:0:1', port: 9150 },
        { host: undefined, port: 9052 },
        { host: undefined, port: 9053 },
        { host: '127.0.0.2', port: 9054 },
      ]);
      assert.deepEqual(listenerPeers(''), []);
      assert.deepEqual(listenerPeers('"example.com:9050" "127.0.0.1:0" "127.0.0.1:99999" "garbage"'), []);
    });

    it('gives undefined when no socket or no process matches', async () => {
      assert.equal(await findClientProcess('127.0.0.1', 50001, { procRoot: root }), undefined); // inode 0
      assert.equal(await findClientProcess('127.0.0.1', 40000, { procRoot: root }), undefined);
      assert.equal(await findClientProcess('10.0.0.1', 50000, { procRoot: root }), undefined);
      assert.equal(await findClientProcess('(Tor_internal)', 0, { procRoot: root }), undefined);
      assert.equal(await findClientProcess('127.0.0.1', 50000, { procRoot: path.join(root, 'missing') }), undefined);
    });
  });

  if (process.platform === 'linux') {
    it('never takes a listening socket for a client (real /proc)', async () => {
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        assert.equal(await findClientProcess('127.0.0.1', (server.address() as net.AddressInfo).port), undefined);
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });

    it('finds this very process for a socket it opened (real /proc)', async () => {
      // The server keeps its end open: a closed connection would take the client's fd with it.
      const accepted: net.Socket[] = [];
      const server = net.createServer((s) => accepted.push(s));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      try {
        await new Promise<void>((resolve) => client.once('connect', () => resolve()));
        const found = await findClientProcess('127.0.0.1', client.localPort!);
        assert.equal(found?.pid, process.pid);
        assert.match(found!.command, /node|mocha/);
      } finally {
        client.destroy();
        for (const s of accepted) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  }
});
