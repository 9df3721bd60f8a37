/**
 * Node modules that torcon loads when a feature first needs them, not when torcon is imported:
 * `node:http` and `node:https` (for `httpAgent()`) and `node:tls` (for TLS streams and the `tls:`
 * endpoint). A program that uses neither does not pay for them. They are not small: on Node 24,
 * importing `node:http` from an ES module also loads much of Node's web stack; with the three of
 * them an import of torcon took 7.5 MiB more (bench/import-memory.ts), and the live-state bench's
 * peak RSS on Node 24 was 102 MiB instead of 94 (bench/RESULTS.md, Session 10). Loaded with
 * `require`, which for a built-in module returns the same module object an `import` would.
 */

import type http from 'node:http';
import type https from 'node:https';
import { createRequire } from 'node:module';
import type tls from 'node:tls';

// Any absolute path serves as the base: a `node:` name is never looked up on disk. Not
// `import.meta.url`, which is empty in an application bundled to CommonJS (esbuild's default for
// `--platform=node`): createRequire threw there as torcon was loaded. Not
// `process.getBuiltinModule`, which Node 22 has only from 22.3.
const requireBuiltin = createRequire(process.execPath);

/** `node:http`, loaded at the first call. */
export function nodeHttp(): typeof http {
  return requireBuiltin('node:http') as typeof http;
}

/** `node:https`, loaded at the first call. */
export function nodeHttps(): typeof https {
  return requireBuiltin('node:https') as typeof https;
}

/** `node:tls`, loaded at the first call. */
export function nodeTls(): typeof tls {
  return requireBuiltin('node:tls') as typeof tls;
}
