/**
 * Reads and changes tor's configuration: typed get, set, reset and save, the SocksPort lines and
 * the HiddenServiceDir groups. The torcon take on txtorcon's dump_config and stem's GETCONF and
 * SETCONF examples.
 *
 * It launches a tor of its own with DisableNetwork 1, so it is safe to run anywhere: that tor never
 * touches the network, and SAVECONF writes the torrc torcon made for it in its temporary data
 * directory (removed by tor.close()). With connectTor() instead, save() writes your tor's torrc.
 *
 * Run: node dist/examples/config.js
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { launchTor } from '../src/index.js';

const tor = await launchTor({ config: { DisableNetwork: 1, SocksPort: ['auto', 'auto IsolateDestAddr'] } });
const serviceDir = await mkdtemp(path.join(tmpdir(), 'torcon-example-hs-')); // 0700, as tor wants
try {
  // getConfig() learns each option's type from tor: values come back as numbers, booleans,
  // lists, or null when unset; a misspelt option name is refused before anything is sent.
  const config = await tor.getConfig();
  console.log('DisableNetwork', await config.get('DisableNetwork')); // true
  console.log('BandwidthRate', await config.get('BandwidthRate'), 'bytes/s');
  console.log('SocksPort lines', await config.getList('SocksPort'));

  // set() is one SETCONF: every value is checked and quoted, all or nothing.
  config.on('changed', (lines) => console.log('changed:', lines.map((l) => `${l.key}=${l.value ?? ''}`).join(' ')));
  await config.set({ ContactInfo: 'ops@example.org', BandwidthRate: 1_048_576 });
  console.log('ContactInfo', await config.get('ContactInfo'), 'BandwidthRate', await config.get('BandwidthRate'));

  // HiddenServiceDir services are groups of lines that tor replaces together: read them all,
  // change the list, write it back whole.
  const services = await config.hiddenServices();
  services.push({ dir: serviceDir, ports: ['80 127.0.0.1:8080'], options: [['HiddenServiceMaxStreams', '10']] });
  await config.setHiddenServices(services);
  for (const hs of await config.hiddenServices()) console.log('hidden service', hs.dir, hs.ports, hs.options);

  // SAVECONF writes the torrc that `GETINFO config-file` names.
  await config.save();
  const torrc = await tor.control.getInfo('config-file');
  console.log(`saved to ${torrc}:\n${await readFile(torrc, 'utf8')}`);

  await config.reset(['ContactInfo', 'BandwidthRate']);
  console.log('after reset: ContactInfo', await config.get('ContactInfo'));
} finally {
  await tor.close(); // stops this tor and removes its data directory
  await rm(serviceDir, { recursive: true, force: true });
}
