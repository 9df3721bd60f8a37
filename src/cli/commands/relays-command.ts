import type { Command } from 'commander';
import { TorControlError } from '../../errors.js';
import type { ExitPolicySummary } from '../../state/exit-policy.js';
import type { Router } from '../../state/router.js';
import type { CliContext } from '../context.js';
import { withTor } from '../context.js';
import { UsageError } from '../errors.js';
import { jsonLine, printable, println } from '../output.js';

/** `torcon relays`: the relays of tor's consensus, with their flags and exit ports; filters for both. */
export function addRelaysCommand(program: Command, ctx: CliContext): void {
  program
    .command('relays')
    .description("list the relays of tor's consensus: flags, address, bandwidth, exit-policy summary")
    .option('--flag <flags...>', 'only relays with every one of these flags (Exit, Guard, Stable...; any case)', flagList)
    .option('--exit-port <port>', 'only relays whose exit-policy summary allows this port', exitPort)
    .option('--json', 'one JSON object per relay')
    .addHelpText(
      'after',
      '\nExit-policy summaries come from ns/all or, on a tor that uses microdescriptors (the default),\n' +
        'from its microdescriptors (state.loadExitPolicies()). A summary leaves out private addresses:\n' +
        'on a loopback test network every exit\'s is "reject 1-65535", so --exit-port finds none there.\n\nExamples:\n  torcon relays --flag Exit Stable --exit-port 443\n  torcon relays --json | jq .nickname',
    )
    .action(async (opts: { flag?: string[]; exitPort?: number; json?: boolean }) => {
      await withTor(ctx, async (tor) => {
        const state = await tor.getState({ signal: ctx.signal });
        try {
          await state.loadExitPolicies({ signal: ctx.signal });
        } catch (err) {
          // A tor with no consensus yet lists no relays either; anything else is an error.
          if (!(err instanceof TorControlError) || opts.exitPort !== undefined) throw err;
        }
        // Flags matched in any case: "--flag exit" is no typo worth an empty answer.
        const wanted = opts.flag?.map((f) => f.toLowerCase());
        for (const router of state.routers.values()) {
          if (wanted !== undefined && !wanted.every((f) => [...router.flags].some((has) => has.toLowerCase() === f))) continue;
          if (opts.exitPort !== undefined && !router.acceptsPort(opts.exitPort)) continue;
          println(ctx.output.out, opts.json ? jsonLine(relayJson(router)) : relayLine(router));
        }
      });
    });
}

/** `nickname $FINGERPRINT address:orport bandwidth flags exit-summary`; tor's words escaped for the terminal. */
function relayLine(r: Router): string {
  const bandwidth = r.bandwidth === undefined ? '-' : `${r.bandwidth} kB/s`;
  return printable([r.nickname, `$${r.fingerprint}`, `${r.address}:${r.orPort}`, bandwidth, [...r.flags].join(',') || '-', summaryText(r.exitPolicy)].join('  '));
}

function relayJson(r: Router): Record<string, unknown> {
  return {
    nickname: r.nickname,
    fingerprint: r.fingerprint,
    address: r.address,
    orPort: r.orPort,
    dirPort: r.dirPort,
    ipv6: r.ipv6,
    flags: [...r.flags],
    bandwidth: r.bandwidth ?? null,
    exitPolicy: r.exitPolicy ?? null,
    exitPolicyV6: r.exitPolicyV6 ?? null,
  };
}

/** A summary as tor writes it (`accept 80,443`), `-` when there is none. */
function summaryText(s: ExitPolicySummary | undefined): string {
  if (s === undefined) return '-';
  return `${s.policy} ${s.ranges.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',')}`;
}

function exitPort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw new UsageError('--exit-port must be a port number 1-65535');
  return n;
}

function flagList(value: string, previous: string[] | undefined): string[] {
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(value)) throw new UsageError(`--flag ${JSON.stringify(value)}: a flag is a word, as tor writes them (Exit, Guard, Stable...)`);
  return [...(previous ?? []), value];
}
