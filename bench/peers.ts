/**
 * Issue 3's comparison: torcon's live state beside txtorcon's and stem's, on the same corpus, the
 * same fake control port and the same machine, in one run.
 *
 * Each run starts a fresh fake control port (fake-control-server.ts, which serves the corpus as
 * fast as a client reads it, so that it never holds a client back) and one client in a fresh
 * process:
 *
 *   torcon    state-replay.ts's own worker: connectTor() -> getState() -> the replay
 *   txtorcon  peers/txtorcon_replay.py: txtorcon.connect() -> create_state() (its TorState) -> the replay
 *   stem      peers/stem_replay.py: Controller.from_port() -> routers, circuits, streams and
 *             address mappings read with stem -> dictionaries kept from stem's parsed events
 *
 * Every client is timed the same way: ready (connected to a built state), the replay (from the
 * last subscription, which starts it, to the end marker) and its process's peak RSS; each one's
 * open circuits, open streams and routers are compared with the corpus's meta.json. Clients take
 * turns in a rotating order; the figures are medians.
 *
 * The Python clients need Debian's python3-txtorcon and python3-stem (txtorcon 22.0 and stem
 * 1.8, the versions issue 3 quotes); a client whose module is missing is reported and skipped.
 * Nothing else in bench/ needs Python.
 *
 * Usage: node dist/bench/peers.js [--runs 3] [--corpus DIR] [--python /usr/bin/python3] [--json]
 */

import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CORPUS_DIR } from './corpus-generator.js';
import { ensureCorpus, loadCorpus } from './corpus-files.js';
import { machine, median, parseFlags } from './bench-util.js';
import { runReplayWorker, startFakeServer } from './replay-children.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
/** The Python clients live beside the TypeScript sources, not in dist/. */
const PEERS_DIR = path.resolve(HERE, '../../bench/peers');
const PEER_TIMEOUT_MS = 600_000;

type Client = 'torcon' | 'txtorcon' | 'stem';
const CLIENTS: readonly Client[] = ['torcon', 'txtorcon', 'stem'];
const PY_MODULE: Record<Exclude<Client, 'torcon'>, string> = { txtorcon: 'txtorcon', stem: 'stem' };

/** What issue 3 measured on its machine, printed beside ours. */
const ISSUE_FIGURES: Record<Client, { ready_s: number | null; events_per_s: number; max_rss_mb: number | null } | null> = {
  torcon: { ready_s: 0.05, events_per_s: 1_000_000, max_rss_mb: 100 },
  txtorcon: { ready_s: 0.16, events_per_s: 45_600, max_rss_mb: 66 },
  stem: { ready_s: 0.4, events_per_s: 26_800, max_rss_mb: 205 },
};

interface Report {
  variant: string;
  ready_s: number;
  replay_s: number;
  events_per_s: number;
  max_rss_mb: number;
  final?: { circuits_open: number; streams_open: number; routers: number };
}

/** The first Python that imports `module` (the one given, then python3 on PATH, then Debian's), or null. */
function findPython(module: string, given: string | undefined): string | null {
  const candidates = given !== undefined ? [given] : ['python3', '/usr/bin/python3'];
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', `import ${module}`], { stdio: 'ignore', timeout: 30_000 });
    if (r.status === 0) return py;
  }
  return null;
}

/** Runs one Python client against `port` and resolves with the JSON line it prints. */
function runPython(python: string, client: Exclude<Client, 'torcon'>, port: number, events: number): Promise<Report> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [path.join(PEERS_DIR, `${client}_replay.py`), String(port), String(events)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), PEER_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`${client} client exited with ${code ?? signal}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
      try {
        resolve(JSON.parse(out) as Report);
      } catch {
        reject(new Error(`${client} client printed no report: ${out.slice(0, 200)}`));
      }
    });
  });
}

async function main(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, ['runs', 'corpus', 'python'], ['json']);
  const runs = Number(flags.get('runs') ?? 3);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  const corpus = flags.has('corpus') ? loadCorpus(path.resolve(flags.get('corpus')!)) : ensureCorpus(DEFAULT_CORPUS_DIR);
  const meta = corpus.meta;
  const events = meta.events + 1; // + the end marker
  const expected = { circuits_open: meta.final.circuits_open, streams_open: meta.final.streams_open, routers: meta.final.routers };

  const python = new Map<Client, string>();
  const missing: string[] = [];
  for (const client of ['txtorcon', 'stem'] as const) {
    const py = findPython(PY_MODULE[client], flags.get('python'));
    if (py === null) missing.push(`${client}: no python3 here imports ${PY_MODULE[client]} (Debian: apt-get install python3-${client})`);
    else python.set(client, py);
  }
  const clients = CLIENTS.filter((c) => c === 'torcon' || python.has(c));

  const reports = new Map<Client, Report[]>(clients.map((c) => [c, []]));
  for (let i = 0; i < runs; i++) {
    // A rotating order, so that no client always runs first (or right after another's load).
    const order = clients.map((_, k) => clients[(k + i) % clients.length]!);
    for (const client of order) {
      const server = await startFakeServer(HERE, corpus.dir);
      try {
        const r =
          client === 'torcon'
            ? await runReplayWorker<Report>(HERE, 'torcon', server.port, events)
            : await runPython(python.get(client)!, client, server.port, events);
        reports.get(client)!.push(r);
        if (!flags.has('json')) {
          const f = r.final;
          const ok = f !== undefined && f.circuits_open === expected.circuits_open && f.streams_open === expected.streams_open && f.routers === expected.routers;
          process.stderr.write(
            `run ${i + 1}/${runs} ${client.padEnd(8)} ready ${r.ready_s.toFixed(3)} s, replay ${r.replay_s.toFixed(3)} s (${r.events_per_s} ev/s), ` +
              `max RSS ${r.max_rss_mb} MB, final ${JSON.stringify(f && { circuits_open: f.circuits_open, streams_open: f.streams_open, routers: f.routers })} ${ok ? 'OK' : 'MISMATCH'}\n`,
          );
        }
      } finally {
        server.child.kill();
      }
    }
  }

  const rows = clients.map((client) => {
    const rs = reports.get(client)!;
    const finals = rs.map((r) => r.final);
    return {
      client,
      runs: rs.length,
      ready_s: +median(rs.map((r) => r.ready_s)).toFixed(3),
      replay_s: +median(rs.map((r) => r.replay_s)).toFixed(3),
      events_per_s: Math.round(median(rs.map((r) => r.events_per_s))),
      max_rss_mb: +median(rs.map((r) => r.max_rss_mb)).toFixed(1),
      final_matches: finals.every(
        (f) => f !== undefined && f.circuits_open === expected.circuits_open && f.streams_open === expected.streams_open && f.routers === expected.routers,
      ),
      issue: ISSUE_FIGURES[client],
    };
  });

  if (flags.has('json')) {
    console.log(JSON.stringify({ bench: 'peers', machine: machine(), corpus: corpus.dir, events, expected_final: expected, runs, rows, missing }, null, 1));
  } else {
    console.log(`peers: ${meta.events} events, ${meta.routers} routers, ${runs} runs each, medians; node ${process.version}, ${python.size > 0 ? [...new Set(python.values())].join(', ') : 'no python client'}`);
    console.log('client     ready s   replay s    events/s   peak RSS MB   final state   | issue 3 (its machine): ready s, events/s, peak RSS MB');
    for (const r of rows) {
      const is = r.issue;
      const issue = is === null ? '' : `${r.client === 'torcon' ? 'goals < ' : ''}${is.ready_s ?? '-'}, ${r.client === 'torcon' ? '>= ' : ''}${is.events_per_s}, ${r.client === 'torcon' ? '< ' : ''}${is.max_rss_mb ?? '-'}`;
      console.log(
        `${r.client.padEnd(9)} ${r.ready_s.toFixed(3).padStart(7)} ${r.replay_s.toFixed(3).padStart(10)} ${String(r.events_per_s).padStart(11)} ${r.max_rss_mb.toFixed(1).padStart(13)}   ${(r.final_matches ? 'MATCH' : 'MISMATCH').padEnd(11)}   | ${issue}`,
      );
    }
    const torcon = rows.find((r) => r.client === 'torcon')!;
    for (const peer of rows.filter((r) => r.client !== 'torcon')) {
      console.log(
        `torcon / ${peer.client}: events/s x${(torcon.events_per_s / peer.events_per_s).toFixed(1)}, ready x${(peer.ready_s / torcon.ready_s).toFixed(1)} faster, peak RSS x${(torcon.max_rss_mb / peer.max_rss_mb).toFixed(2)}` +
          `; ${peer.client} here against issue 3's machine: events/s x${(peer.events_per_s / peer.issue!.events_per_s).toFixed(2)}`,
      );
    }
    for (const m of missing) console.log(`skipped ${m}`);
  }
  if (rows.some((r) => !r.final_matches)) process.exitCode = 2;
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`peers: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
