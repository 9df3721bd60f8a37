import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root (this file runs from dist/test/support). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');

/**
 * Type-checks files as a user's project would: strict, ES modules, Node's types, nothing emitted.
 * `sources` are written to a temporary directory and checked with `files`; `extra` adds or
 * overrides compiler options.
 * @returns tsc's exit code and what it printed (empty when all is well)
 */
export async function typeCheckAsConsumer(
  files: readonly string[],
  sources: Readonly<Record<string, string>> = {},
  extra: Record<string, unknown> = {},
): Promise<{ code: number; out: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'torcon-consumer-'));
  try {
    const written: string[] = [];
    for (const [name, text] of Object.entries(sources)) {
      await fs.writeFile(path.join(dir, name), text);
      written.push(path.join(dir, name));
    }
    const tsconfig = {
      compilerOptions: {
        target: 'es2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        lib: ['es2022'],
        types: ['node'],
        typeRoots: [path.join(ROOT, 'node_modules/@types')],
        strict: true,
        noEmit: true,
        ...extra,
      },
      files: [...files, ...written],
    };
    await fs.writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
    return await new Promise((resolve) => {
      execFile(process.execPath, [TSC, '-p', dir], (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, out: stdout + stderr });
      });
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
