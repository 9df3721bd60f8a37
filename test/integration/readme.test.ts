import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sharedTestNetwork } from '../support/testnet-fixture.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
// Inside the package, so that `import 'torcon'` resolves to this package through its exports map.
const SNIPPETS_DIR = path.join(ROOT, 'dist', 'readme-snippets');

/** The README's runnable snippets: a `<!-- snippet: NAME -->` marker followed by a js code block. */
function extractSnippets(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /<!-- snippet: ([\w-]+) -->\s*```js\n([\s\S]*?)```/g;
  for (let m = re.exec(markdown); m; m = re.exec(markdown)) out.set(m[1]!, m[2]!);
  return out;
}

/** What each snippet must print: the README promises these, so the test checks them. */
const EXPECTED: Record<string, RegExp[]> = {
  'connect-tor': [/^0\.4\.\d+\S* NOTICE BOOTSTRAP PROGRESS=100/m],
  bootstrap: [/^tor is at 100%: Done$/m, /^100% Done$/m, /^ready for traffic$/m],
  status: [/^tor 0\.4\.\d+\S*( \(.*\))? \(pid \d+\), up \d+ s, \d+ bytes read$/m, /^can carry traffic$/m],
  'launch-tor': [/^tor 0\.4\.\d+\S* running as pid \d+$/m],
  state: [/^\d+ routers, \d+ circuits$/m, /^our circuit \d+ \[ '\w+', '\w+', '\w+' \]$/m],
  attacher: [/^stream to 127\.0\.0\.1 goes over circuit \d+$/m, /^200 hello via \w+$/m],
  'fetch-circuit': [/^200 hello over circuit (\d+)\nstreams attached to \[ '\1', '\1' \]$/m],
  onion: [/^serving on [a-z2-7]{56}\.onion:80$/m, /^200 hello from an onion service$/m],
  'onion-keep': [/^published [a-z2-7]{56}\.onion:80$/m],
  'onion-list': [/^[a-z2-7]{56}\.onion detached=true$/m, /^removed: true$/m],
  'onion-descriptor': [/^hs-descriptor 3, lifetime \d+ min, from HSDir [0-9A-F]{40}$/m, /^TOR_ONION_NOT_FOUND( [A-Z_]+)+$/m],
  fetch: [/^200 reached through a Tor exit$/m, /HTTP\/1\.1 200 OK/],
  'socks-only': [/^200 no control port needed$/m, /^agent 200$/m],
  di: [/^same control: true$/m, /^plugins: (?=.*\btcp\b)(?=.*\bunix\b)(?=.*\btls\b)(?=.*\btor\b)(?=.*\bonion\b).*$/m],
  geoip: [/^databases found: \{.*\}$/m, /^1\.1\.1\.1 \{.*"countryCode":"[A-Z]{2}".*\}$/m, /^127\.0\.0\.1 \{\}$/m],
  events: [/^read \d+ written \d+$/m],
  config: [
    /^SocksPort \[ '127\.0\.0\.1:\d+[\w ]*' \] DisableNetwork false$/m,
    /^changed ContactInfo LongLivedPorts$/m,
    /^ops@example\.org "#1" \[ '22', '443' \]$/m,
  ],
};

describe('README snippets run against the private test network', function () {
  this.timeout(120_000);
  let snippets: Map<string, string>;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    this.timeout(240_000);
    const network = await sharedTestNetwork();
    env = { ...process.env, ...network.env() };
    snippets = extractSnippets(await readFile(path.join(ROOT, 'README.md'), 'utf8'));
    await mkdir(SNIPPETS_DIR, { recursive: true });
  });
  after(async () => {
    await rm(SNIPPETS_DIR, { recursive: true, force: true });
  });

  it('finds every snippet the test knows, and the test knows every snippet', () => {
    assert.deepEqual([...snippets.keys()].sort(), Object.keys(EXPECTED).sort());
  });

  for (const [name, patterns] of Object.entries(EXPECTED)) {
    it(`runs the "${name}" snippet`, async () => {
      const code = snippets.get(name);
      assert.ok(code, `README has no snippet ${name}`);
      const file = path.join(SNIPPETS_DIR, `${name}.mjs`);
      await writeFile(file, code);
      const { stdout } = await run(process.execPath, [file], { env, cwd: ROOT, timeout: 90_000 });
      for (const pattern of patterns) assert.match(stdout, pattern, `output of ${name}:\n${stdout}`);
    });
  }
});
