import net from 'node:net';

/**
 * A TCP port on 127.0.0.1 where nothing listens right now (bound, then closed): for a connection
 * that must be refused, or a port a tor is then told to take.
 */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
