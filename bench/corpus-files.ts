/**
 * Reading a corpus directory (ours from corpus-generator.ts, or the reference one from
 * shared/bench/gen_corpus.py: both write the same file names and the same `final` keys).
 */

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_CORPUS_DIR, GENERATOR, generateCorpus, writeCorpus } from './corpus-generator.js';

/** The parts of meta.json the benchmarks read. */
export interface LoadedMeta {
  generator?: string;
  seed?: number;
  routers: number;
  events: number;
  base_ts: number;
  warmup_s: number;
  sha256_events?: string;
  sha256_corpus?: string;
  final: { circuits_open: number; streams_open: number; routers: number; [k: string]: unknown };
  [k: string]: unknown;
}

/** A corpus read from disk. */
export interface LoadedCorpus {
  dir: string;
  meta: LoadedMeta;
  nsAll: Buffer;
  circuitStatus: Buffer;
  streamStatus: Buffer;
  orconnStatus: Buffer;
  addressMappings: Buffer;
  entryGuards: Buffer;
  /** The `650` lines, CRLF-terminated, without the end marker. */
  events: Buffer;
}

/**
 * Reads a corpus directory.
 * @throws Error naming the missing file when the directory is incomplete
 */
export function loadCorpus(dir: string): LoadedCorpus {
  const rd = (name: string): Buffer => {
    const p = path.join(dir, name);
    if (!existsSync(p)) throw new Error(`corpus file missing: ${p}`);
    return readFileSync(p);
  };
  const meta = JSON.parse(rd('meta.json').toString('utf8')) as LoadedMeta;
  return {
    dir,
    meta,
    nsAll: rd('ns_all.txt'),
    circuitStatus: rd('circuit_status.txt'),
    streamStatus: rd('stream_status.txt'),
    orconnStatus: rd('orconn_status.txt'),
    addressMappings: rd('address_mappings.txt'),
    entryGuards: rd('entry_guards.txt'),
    events: rd('events.txt'),
  };
}

/**
 * Loads bench/corpus (or `dir`), generating it with the default parameters first when absent, and
 * generating bench/corpus again when an older form of the generator wrote it.
 * @param dir corpus directory @default bench/corpus
 */
export function ensureCorpus(dir: string = DEFAULT_CORPUS_DIR): LoadedCorpus {
  const metaPath = path.join(dir, 'meta.json');
  const stale =
    path.resolve(dir) === path.resolve(DEFAULT_CORPUS_DIR) &&
    existsSync(metaPath) &&
    (JSON.parse(readFileSync(metaPath, 'utf8')) as LoadedMeta).generator !== GENERATOR;
  if (stale || !existsSync(metaPath)) {
    const t0 = performance.now();
    writeCorpus(dir, generateCorpus());
    process.stderr.write(`generated corpus in ${dir} (${((performance.now() - t0) / 1000).toFixed(2)} s)\n`);
  }
  return loadCorpus(dir);
}
