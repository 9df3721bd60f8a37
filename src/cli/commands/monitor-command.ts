import type { Command } from 'commander';
import type { Circuit, Stream, TorState } from '../../state/tor-state.js';
import type { CliContext } from '../context.js';
import { untilAborted, withTor } from '../context.js';
import { jsonLine, printable, println } from '../output.js';
import { formatHop, shortLocation } from './circuit-format.js';
import { formatAge } from './format-units.js';
import { positiveInt } from './tor-commands.js';
import { UsageError } from '../errors.js';
import { MAX_TIMER_MS } from '../../util/abort.js';

/** State events `monitor --json` reports, one JSON line each. */
const STATE_EVENTS = [
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
  'addrmapExpired',
  'consensus',
] as const;

/** `torcon monitor`: a live view of circuits and streams, like top; `--json` for JSON lines. */
export function addMonitorCommand(program: Command, ctx: CliContext): void {
  program
    .command('monitor')
    .description('live view of circuits (path, purpose, age, location) and streams (target, circuit, process)')
    .option('--json', 'a JSON line for the current state, then one per change')
    .option('--interval <ms>', 'redraw interval', redrawInterval, 1000)
    .addHelpText('after', '\nExamples:\n  torcon monitor\n  torcon monitor --json | jq .')
    .action(async (opts: { json?: boolean; interval: number }) => {
      await withTor(
        ctx,
        async (tor) => {
          const state = await tor.getState({ signal: ctx.signal });
          await (opts.json ? monitorJson(ctx, state) : monitorScreen(ctx, state, opts.interval));
        },
        { watching: true },
      );
    });
}

async function monitorJson(ctx: CliContext, state: TorState): Promise<void> {
  const write = (obj: unknown) => println(ctx.output.out, jsonLine(obj));
  write({
    event: 'snapshot',
    time: new Date().toISOString(),
    routers: state.routers.size,
    circuits: [...state.circuits.values()].map(circuitJson),
    streams: [...state.streams.values()].map(streamJson),
  });
  const handlers = STATE_EVENTS.map((name) => {
    const handler = (subject: unknown) => {
      const body =
        name.startsWith('circuit') ? { circuit: circuitJson(subject as Circuit) }
        : name.startsWith('stream') ? { stream: streamJson(subject as Stream) }
        : name === 'consensus' ? { routers: state.routers.size }
        : { mapping: subject };
      write({ event: name, time: new Date().toISOString(), ...body });
    };
    (state as unknown as NodeJS.EventEmitter).on(name, handler);
    return () => (state as unknown as NodeJS.EventEmitter).off(name, handler);
  });
  try {
    await Promise.race([untilAborted(ctx.signal), untilStateCloses(state)]);
  } finally {
    for (const off of handlers) off();
  }
}

async function monitorScreen(ctx: CliContext, state: TorState, interval: number): Promise<void> {
  const processes = new Map<string, string>();
  let last = '';
  const draw = async () => {
    // On a terminal, one screenful (a busy tor has thousands of circuits); elsewhere every line,
    // printed again only when something other than the clock and the ages changed.
    const rows = ctx.output.interactive ? (ctx.output.out as { rows?: unknown }).rows : undefined;
    const screen = await renderScreen(state, processes, Date.now(), typeof rows === 'number' && rows > 0 ? rows : undefined);
    if (ctx.output.interactive) ctx.output.out.write(`\x1b[H\x1b[2J${screen.text}`);
    else if (screen.key !== last) println(ctx.output.out, screen.text);
    last = screen.key;
  };
  await draw();
  const timer = setInterval(() => void draw().catch(() => undefined), interval);
  try {
    await Promise.race([untilAborted(ctx.signal), untilStateCloses(state)]);
  } finally {
    clearInterval(timer);
  }
}

/**
 * The monitor's screen as text, and its `key`: the same without the clock and the circuits' ages,
 * which change every second (off a terminal the screen is printed again only when the key changes).
 * With `maxRows`, the text is cut to that many lines, the last saying how many more there are.
 * @internal exported for tests
 */
export async function renderScreen(
  state: Pick<TorState, 'circuits' | 'streams' | 'routers'>,
  processes: Map<string, string>,
  now: number,
  maxRows?: number,
): Promise<{ text: string; key: string }> {
  const lines: string[] = [];
  const keyLines: string[] = [];
  const circuits = [...state.circuits.values()];
  const streams = [...state.streams.values()];
  const counts = `routers ${state.routers.size}   circuits ${circuits.length}   streams ${streams.length}`;
  lines.push(`torcon monitor   ${new Date(now).toISOString()}   ${counts}`);
  keyLines.push(counts);
  lines.push('');
  lines.push('CIRCUIT  STATUS     PURPOSE          AGE     PATH (relay [country])');
  for (const c of circuits) {
    const age = c.timeCreated ? formatAge(now - c.timeCreated.getTime()) : '-';
    const hops = await Promise.all(
      (c.path ?? []).map(async (h) => formatHop(printable(h.nickname ?? h.fingerprint.slice(0, 8)), await shortLocation(h as never))),
    );
    const head = `${c.id.padEnd(8)} ${String(c.status).padEnd(10)} ${String(c.purpose ?? '-').padEnd(16)}`;
    lines.push(`${head} ${age.padEnd(7)} ${hops.join(' → ')}`);
    keyLines.push(`${head} ${hops.join(' → ')}`);
  }
  lines.push('');
  lines.push('STREAM   STATUS       CIRCUIT  TARGET                                PROCESS');
  for (const s of streams) {
    let proc = processes.get(s.id);
    if (proc === undefined) {
      const found = await s.clientProcess().catch(() => undefined);
      proc = found ? printable(`${found.pid} ${found.command}`).slice(0, 40) : '-';
      processes.set(s.id, proc);
    }
    const target = printable(`${s.target.host}:${s.target.port}`);
    const line = `${s.id.padEnd(8)} ${String(s.status).padEnd(12)} ${(s.circuit?.id ?? '-').padEnd(8)} ${target.slice(0, 37).padEnd(37)} ${proc}`;
    lines.push(line);
    keyLines.push(line);
  }
  for (const id of processes.keys()) if (!state.streams.has(id)) processes.delete(id);
  const key = keyLines.join('\n');
  if (maxRows !== undefined && lines.length > maxRows) {
    // The cursor stays on the line after the last: one row is kept for it.
    const kept = Math.max(1, maxRows - 2);
    const more = lines.length - kept;
    return { text: `${lines.slice(0, kept).join('\n')}\n… ${more} more lines (a taller terminal, or torcon monitor --json, shows them)\n`, key };
  }
  return { text: lines.join('\n') + '\n', key };
}

/**
 * Settles when the state closes: resolves when it was closed on purpose, rejects with the reason
 * when its control connection ended (tor stopped or crashed), so that monitor exits 1 saying so
 * instead of 0 as if the user had stopped it.
 */
function untilStateCloses(state: TorState): Promise<void> {
  return new Promise((resolve, reject) => state.once('close', (err?: Error) => (err ? reject(err) : resolve())));
}

function circuitJson(c: Circuit) {
  return {
    id: c.id,
    status: c.status,
    purpose: c.purpose,
    timeCreated: c.timeCreated?.toISOString(),
    path: (c.path ?? []).map((h) => ({ nickname: h.nickname, fingerprint: h.fingerprint })),
  };
}

function streamJson(s: Stream) {
  return { id: s.id, status: s.status, target: s.target, circuit: s.circuit?.id };
}

/** `--interval`: a timer's delay, so at most 2^31-1 ms (Node runs a longer one every millisecond). */
function redrawInterval(value: string): number {
  const ms = positiveInt(value, '--interval');
  if (ms > MAX_TIMER_MS) throw new UsageError(`--interval must be at most ${MAX_TIMER_MS} (milliseconds)`);
  return ms;
}
