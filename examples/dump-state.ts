/**
 * Prints what tor knows right now: relays (how many, with which flags), circuits with their
 * paths, streams with their targets, the address map and the entry guards. The torcon take on
 * txtorcon's dump_state and stem's "list circuits".
 *
 * Run: TOR_CONTROL=tcp:127.0.0.1:9051 node dist/examples/dump-state.js
 */
import { connectTor } from '../src/index.js';

// connectTor() reads $TOR_CONTROL, else tries the usual local control ports.
const tor = await connectTor();
try {
  // getState() reads tor's routers, circuits, streams, address map and guards once, then keeps
  // them current from tor's events until tor.close().
  const state = await tor.getState();

  // Relays: count them, and count each consensus flag.
  const flagCounts = new Map<string, number>();
  for (const router of state.routers.values()) {
    for (const flag of router.flags) flagCounts.set(flag, (flagCounts.get(flag) ?? 0) + 1);
  }
  const flags = [...flagCounts].sort(([a], [b]) => a.localeCompare(b)).map(([f, n]) => `${f} ${n}`);
  console.log(`tor ${tor.version}: ${state.routers.size} routers (${flags.join(', ')})`);

  // Circuits: a path is a list of Routers, guard first.
  console.log(`\n${state.circuits.size} circuits:`);
  for (const circuit of state.circuits.values()) {
    const path = circuit.path.map((r) => r.nickname || r.fingerprint).join(' -> ');
    console.log(`  ${circuit.id} ${circuit.status} ${circuit.purpose ?? ''} ${path}`);
  }

  // Streams: where each goes and on which circuit (circuitId '0' = not attached yet).
  console.log(`\n${state.streams.size} streams:`);
  for (const stream of state.streams.values()) {
    console.log(`  ${stream.id} ${stream.status} ${stream.target.host}:${stream.target.port} circuit ${stream.circuitId}`);
  }

  // The address map: MAPADDRESS entries, cached DNS answers, tracked exits.
  console.log(`\n${state.addressMap.size} address mappings:`);
  for (const m of state.addressMap.values()) {
    const expires = m.expiresAt === Infinity ? 'never' : new Date(m.expiresAt).toISOString();
    console.log(`  ${m.address} -> ${m.newAddress ?? '<error>'} (expires ${expires})`);
  }

  // Entry guards: `guards` has tor's status for each, `entryGuards` the matching Routers.
  console.log(`\n${state.guards.length} entry guards:`);
  state.guards.forEach((guard, i) => {
    const router = state.entryGuards[i]!;
    console.log(`  ${router.nickname || guard.nickname || '?'} ${guard.fingerprint} ${guard.status}${router.listed ? '' : ' (not in the consensus)'}`);
  });
} finally {
  await tor.close();
}
