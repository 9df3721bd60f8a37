/**
 * The long fuzz run: 1,000,000 control-reply parser cases and 100,000 endpoint-grammar cases (the
 * CI runs 20,000 parser cases, test/unit/fuzz-reply-parser.test.ts, and a few thousand grammar
 * cases). Same strategies as the CI properties: streams built from a model of replies and events,
 * fed in random chunks and compared with the model; random bytes; valid streams mutated (stray
 * CR/LF/NUL, deletions, duplications, broken status codes, dropped data-block terminators, long
 * lines) and spliced, where the parser must stop with a TorProtocolError or deliver well-formed
 * messages, the same for any chunking.
 *
 *   node dist/bench/fuzz-long.js [--parser N] [--grammar N] [--seed S]
 *
 * Prints the counts and the time of each property; on a failure prints fast-check's
 * counterexample (with the seed to replay it) and exits 1. No tor, no network.
 */

import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertWellFormed, cuts, feed, hostileStream, maxLine, split, validStream } from '../test/support/reply-stream-model.js';
import { TorError } from '../src/errors.js';
import { createDefaultRegistry } from '../src/plugins/index.js';
import type { EndpointRole } from '../src/plugins/plugin-types.js';
import { parseEndpoint, quoteEndpointArgument } from '../src/util/endpoint-grammar.js';
import { parseFlags, si } from './bench-util.js';

// ------------------------------------------------------------------ grammar

const PREFIXES = ['tcp', 'unix', 'tls', 'tor', 'onion', 'TOR', 'bogus', ''];
const KEYWORDS = ['host', 'port', 'path', 'timeout', 'interface', 'socksPort', 'tls', 'isolate', 'username', 'password', 'control', 'controlPort', 'localPort', 'privateKey', 'clientAuth', 'hiddenServiceDir', 'maxStreams', 'foo'];
const VALUES = ['80', '0', '65536', '-1', '127.0.0.1', '\\:\\:1', '[\\:\\:1]', 'example.com', 'a\r\nb', '\0', '"', '\\\\', 'x=y', '', 'true', 'a,b', 'é', '😀', 'x'.repeat(300)];
const segment = fc.oneof(fc.constantFrom(...VALUES), fc.tuple(fc.constantFrom(...KEYWORDS), fc.constantFrom(...VALUES)).map(([k, v]) => `${k}=${v}`), fc.string({ unit: 'grapheme', maxLength: 10 }));
const nearValid = fc
  .tuple(
    fc.constantFrom('tcp:127.0.0.1:80', 'tcp:8080', 'tcp:[::1]:443', 'tor:example.com:443', 'tor:127.0.0.1:80', 'unix:/tmp/x.sock', 'onion:80', 'tls:127.0.0.1:443'),
    fc.array(fc.tuple(fc.constantFrom('timeout', 'isolate', 'tls', 'socksPort', 'localPort', 'maxStreams'), fc.constantFrom('1', '30', 'true', 'a', '9050')).map(([k, v]) => `${k}=${v}`), { maxLength: 2 }),
  )
  .map(([base, kws]) => [base, ...kws].join(':'));
const endpointString = fc.oneof(
  { weight: 3, arbitrary: nearValid },
  { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...PREFIXES), fc.array(segment, { maxLength: 5 })).map(([p, s]) => [p, ...s].join(':')) },
  { weight: 2, arbitrary: fc.array(fc.constantFrom(':', '=', '\\', ...PREFIXES, ...KEYWORDS, ...VALUES), { maxLength: 12 }).map((a) => a.join('')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
);

// ------------------------------------------------------------------ runner

interface Result {
  name: string;
  runs: number;
  ms: number;
  note: string;
}

function check<Ts extends unknown[]>(name: string, runs: number, seed: number, property: fc.IProperty<Ts>, note: () => string): Result {
  const started = performance.now();
  const details = fc.check(property, { numRuns: runs, seed, endOnFailure: true });
  const ms = performance.now() - started;
  if (details.failed) {
    console.error(`\nFAILED: ${name} after ${details.numRuns} runs (seed ${details.seed}, path ${details.counterexamplePath})`);
    console.error('counterexample:', fc.stringify(details.counterexample));
    console.error(details.errorInstance);
    process.exit(1);
  }
  const r = { name, runs, ms, note: note() };
  console.log(`${name.padEnd(44)} ${si(runs).padStart(8)} cases ${(ms / 1000).toFixed(1).padStart(7)} s ${si((runs * 1000) / ms).padStart(8)}/s  ${r.note}`);
  return r;
}

function main(): void {
  const flags = parseFlags(process.argv.slice(2), ['parser', 'grammar', 'seed'], []);
  const parserRuns = Number(flags.get('parser') ?? 1_000_000);
  const grammarRuns = Number(flags.get('grammar') ?? 100_000);
  const seed = Number(flags.get('seed') ?? Date.now() % 2 ** 31);
  console.log(`fuzz-long: ${si(parserRuns)} parser cases, ${si(grammarRuns)} grammar cases, seed ${seed}`);
  const share = (f: number) => Math.round(parserRuns * f);
  const results: Result[] = [];

  results.push(
    check('parser: valid streams = the model', share(0.25), seed, fc.property(validStream, cuts, (s, at) => {
      const run = feed(split(s.bytes, at));
      assert.equal(run.error, null);
      assert.deepEqual(run.replies, s.replies);
      assert.deepEqual(run.events, s.events);
    }), () => ''),
  );
  results.push(
    check('parser: any split = whole', share(0.25), seed + 1, fc.property(validStream, cuts, (s, at) => {
      assert.deepEqual(feed(split(s.bytes, at)).log, feed([s.bytes]).log);
    }), () => ''),
  );
  results.push(
    check('parser: random bytes', share(0.2), seed + 2, fc.property(fc.uint8Array({ maxLength: 300 }), cuts, maxLine, (b, at, max) => {
      const run = feed(split(Buffer.from(b), at), max);
      for (const r of run.replies) assertWellFormed(r, 'reply');
      for (const e of run.events) assertWellFormed(e, 'event');
    }), () => ''),
  );
  let refused = 0;
  results.push(
    check('parser: mutated and spliced streams', parserRuns - share(0.25) * 2 - share(0.2), seed + 3, fc.property(hostileStream, cuts, maxLine, (b, at, max) => {
      const whole = feed([b], max);
      for (const r of whole.replies) assertWellFormed(r, 'reply');
      for (const e of whole.events) assertWellFormed(e, 'event');
      assert.deepEqual(feed(split(b, at), max).log, whole.log);
      if (whole.error) refused++;
    }), () => `${si(refused)} refused with TorProtocolError`),
  );

  const registry = createDefaultRegistry();
  let valid = 0;
  results.push(
    check('grammar: parse + validate, typed errors only', grammarRuns, seed + 4, fc.property(endpointString, fc.constantFrom<EndpointRole>('client', 'server'), (s, role) => {
      try {
        const endpoint = parseEndpoint(s);
        registry.get(endpoint.prefix, role).validate?.(endpoint, role);
        valid++;
        assert.ok(!/[\r\n\0]/.test(s), 'CR/LF/NUL accepted');
      } catch (err) {
        if (!(err instanceof TorError)) throw err;
      }
    }), () => `${si(valid)} valid`),
  );
  results.push(
    check('grammar: quoteEndpointArgument round trip', grammarRuns, seed + 5, fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), (v) => {
      const parsed = parseEndpoint(`tcp:host=${quoteEndpointArgument(v)}:port=80`);
      assert.equal(parsed.options['host'], v);
    }), () => ''),
  );

  const total = results.reduce((n, r) => n + r.runs, 0);
  const ms = results.reduce((n, r) => n + r.ms, 0);
  console.log(`total ${si(total)} cases in ${(ms / 1000).toFixed(1)} s: no failure`);
}

main();
