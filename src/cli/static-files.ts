import { open, realpath, stat } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';

/**
 * The request handler of `torcon serve`: the files of one directory over HTTP (GET and HEAD).
 *
 * What it serves is published to anyone who has the address, so it never leaves the directory:
 * a request path is decoded one segment at a time (an encoded `/`, `\` or NUL, and `.`/`..`
 * segments, are refused), and the file found is resolved through every symlink and served only if
 * its real path is still inside the directory's real path: a symlink to a file or directory
 * elsewhere is not followed out. Hidden files (a segment starting with `.`, as `.env` or `.git`)
 * are not served, except under `.well-known/`. Only regular files are: a FIFO or a device would
 * block the reader. Each request looks at the disk as it is then, so files added or changed while
 * serving are served as they are now.
 */

/** Content types by extension; anything else is application/octet-stream. */
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.wav': 'audio/wav',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
};

/** What a request path names inside the directory: its decoded segments, or why it names nothing. */
type RequestPath = { segments: string[]; trailingSlash: boolean } | { status: 400 | 404 };

/**
 * Splits the path of a request target (`/a/b%20c/`, or an absolute-form `http://host/a`) into
 * decoded segments. Dot segments are refused rather than resolved: no browser sends them, and a
 * request holding them is someone probing for a way out.
 */
export function requestPath(target: string): RequestPath {
  let pathname = target;
  if (!pathname.startsWith('/')) {
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(\/[^?#]*)?/i.exec(pathname);
    if (m === null) return { status: 400 };
    pathname = m[1] ?? '/';
  }
  pathname = pathname.replace(/[?#].*$/s, '');
  const segments: string[] = [];
  for (const raw of pathname.split('/')) {
    if (raw === '') continue;
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return { status: 400 };
    }
    if (segment === '.' || segment === '..' || /[/\\\0]/.test(segment)) return { status: 404 };
    if (segment.startsWith('.') && !(segments.length === 0 && segment === '.well-known')) return { status: 404 };
    segments.push(segment);
  }
  return { segments, trailingSlash: pathname.endsWith('/') };
}

/** `real` is `root` or inside it (both real paths). */
function inside(root: string, real: string): boolean {
  return real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** The real path of `candidate` when it exists inside `root`, with what it is; otherwise undefined. */
async function resolveInside(root: string, candidate: string): Promise<{ real: string; directory: boolean; file: boolean } | undefined> {
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    return undefined;
  }
  if (!inside(root, real)) return undefined;
  const info = await stat(real).catch(() => undefined);
  if (info === undefined) return undefined;
  return { real, directory: info.isDirectory(), file: info.isFile() };
}

/**
 * A byte range of a file of `size` bytes from a Range header: one `bytes=` range, as browsers and
 * download tools send it. `undefined`: serve the whole file (no header, several ranges, or one that
 * makes no sense, which RFC 9110 lets a server ignore); `'unsatisfiable'`: 416.
 */
export function byteRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    // A suffix: the last N bytes.
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? Infinity : Number(m[2]);
  if (!Number.isSafeInteger(start) || last < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(last, size - 1) };
}

function plain(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...headers });
  res.end(`${text}\n`);
}

/**
 * A request handler serving the files of `root`.
 * @param root - the directory, as a real path (`fs.realpath`): files are served only from inside it
 */
export function staticFiles(root: string): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    serve(root, req, res).catch(() => {
      // A file that vanished or became unreadable mid-request: never a crash of the server.
      if (!res.headersSent) plain(res, 500, 'internal error');
      else res.destroy();
    });
  };
}

async function serve(root: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    plain(res, 405, 'method not allowed', { allow: 'GET, HEAD' });
    return;
  }
  const target = requestPath(req.url ?? '/');
  if ('status' in target) {
    plain(res, target.status, target.status === 400 ? 'bad request' : 'not found');
    return;
  }
  const wanted = path.join(root, ...target.segments);
  let found = await resolveInside(root, wanted);
  if (found?.directory) {
    if (!target.trailingSlash && target.segments.length > 0) {
      // Relative links in the directory's index resolve against the URL: it must end with '/'.
      const query = /\?.*$/s.exec(req.url ?? '')?.[0] ?? '';
      const location = `/${target.segments.map(encodeURIComponent).join('/')}/${query}`;
      plain(res, 301, 'moved', { location });
      return;
    }
    found = (await resolveInside(root, path.join(found.real, 'index.html'))) ?? (await resolveInside(root, path.join(found.real, 'index.htm')));
  } else if (found === undefined && !target.trailingSlash && target.segments.length > 0) {
    found = await resolveInside(root, `${wanted}.html`);
  }
  if (found === undefined || !found.file) {
    plain(res, 404, 'not found');
    return;
  }
  await sendFile(found.real, req, res);
}

async function sendFile(file: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const handle = await open(file, 'r');
  let streaming = false;
  try {
    // The size and date of the file as opened, not as it was when the path was looked up.
    const info = await handle.stat();
    if (!info.isFile()) {
      plain(res, 404, 'not found');
      return;
    }
    const etag = `W/"${info.size}-${Math.floor(info.mtimeMs)}"`;
    const headers: Record<string, string | number> = {
      'content-type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'last-modified': info.mtime.toUTCString(),
      etag,
      'cache-control': 'no-cache',
      'accept-ranges': 'bytes',
      'x-content-type-options': 'nosniff',
    };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const range = byteRange(req.headers.range, info.size);
    if (range === 'unsatisfiable') {
      plain(res, 416, 'range not satisfiable', { 'content-range': `bytes */${info.size}` });
      return;
    }
    const { start, end } = range ?? { start: 0, end: info.size - 1 };
    if (range) headers['content-range'] = `bytes ${start}-${end}/${info.size}`;
    headers['content-length'] = end - start + 1;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD' || end < start) {
      res.end();
      return;
    }
    streaming = true;
    const stream = handle.createReadStream({ start, end, autoClose: true });
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  } finally {
    if (!streaming) await handle.close();
  }
}
