#!/usr/bin/env node
// Makes a fresh clone runnable with one command: installs the npm packages when they are missing,
// builds when the build is missing or older than the sources, and checks that tor is installed
// (installing it with apt-get when we are root on Debian/Ubuntu, explaining how otherwise).
// Plain JavaScript on purpose: it runs before TypeScript is installed.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`torcon: "${cmd} ${args.join(' ')}" failed`);
    process.exit(r.status ?? 1);
  }
};
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

if (!existsSync(path.join(root, 'node_modules', '.bin', 'tsc'))) {
  console.log('torcon: installing npm packages (npm install)…');
  run('npm', ['install', '--no-audit', '--no-fund']);
}

const newest = (dir) => {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
};
const built = path.join(root, 'dist', 'src', 'cli', 'main.js');
const sources = ['src', 'test', 'bench'].filter((d) => existsSync(path.join(root, d)));
if (!existsSync(built) || Math.max(...sources.map((d) => newest(path.join(root, d)))) > statSync(built).mtimeMs) {
  console.log('torcon: building (tsc)…');
  // tsc still writes its output when it finds type errors; they fail `npm test`, but they must not
  // keep the demo from running once the build exists.
  const r = spawnSync(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    if (!existsSync(built)) process.exit(r.status ?? 1);
    console.error('torcon: tsc reported type errors (above); continuing with the build it wrote');
  }
}

// tor's GeoIP tables (Debian's tor-geoipdb, which tor only recommends) serve router.location() when
// no MaxMind database is installed, and the GeoIP tests read them.
const TOR_GEOIP = '/usr/share/tor/geoip6';
const root_ = process.getuid?.() === 0;
const aptInstall = (packages) => {
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages]);
  // Never leave the system service running: its default config joins the public network.
  spawnSync('service', ['tor', 'stop'], { stdio: 'ignore' });
};
if (!has('tor') || !has('tor-gencert')) {
  if (root_ && has('apt-get')) {
    console.log('torcon: tor is not installed; installing the Debian packages (apt-get install tor tor-geoipdb)…');
    aptInstall(['tor', 'tor-geoipdb']);
  } else {
    console.error(
      'torcon: tor is not installed. Install it first:\n' +
        '  Debian/Ubuntu: sudo apt-get install tor tor-geoipdb   (then: sudo systemctl disable --now tor)\n' +
        '  macOS:         brew install tor\n' +
        'torcon starts its own tor processes; it never needs the system service.',
    );
    process.exit(1);
  }
} else if (process.platform === 'linux' && has('apt-get') && !existsSync(TOR_GEOIP)) {
  if (root_) {
    console.log("torcon: installing tor's GeoIP tables (apt-get install tor-geoipdb)…");
    aptInstall(['tor-geoipdb']);
  } else {
    console.error("torcon: tor's GeoIP tables are missing (sudo apt-get install tor-geoipdb); the GeoIP tests need them");
  }
}
try {
  execFileSync('tor', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('torcon: "tor --version" failed; is tor installed correctly?');
  process.exit(1);
}
