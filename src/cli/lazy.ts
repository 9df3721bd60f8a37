/**
 * The library modules behind the commands, loaded when a command runs rather than when the CLI
 * starts: the whole library takes seconds to load on a busy machine, and `--help` or a usage
 * error should not wait for it. Node caches each module after its first import.
 */
export const lib = {
  connectTor: () => import('../tor/connect-tor.js'),
  socksOnly: () => import('../tor/socks-only-tor.js'),
  socksClient: () => import('../socks/tor-socks-client.js'),
  endpoints: () => import('../di/endpoint-api.js'),
  torPlugin: () => import('../plugins/tor-plugin.js'),
  container: () => import('../di/container.js'),
  testnet: () => import('../testnet.js'),
  launch: () => import('../process/launch-tor.js'),
};
