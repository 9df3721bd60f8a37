import type { OnionService } from '../onion/onion-types.js';
import type { ListeningEndpoint } from '../util/listening-endpoint.js';

/**
 * How `torcon serve` and `torcon run` hand an onion service's client-authorization keys
 * (`clientAuth=alice,bob`) to the operator. The keys are generated afresh for each service, so
 * printing them when it is published is the operator's one chance to get them; they are secrets,
 * so they go only where the command prints its result (serve: stdout after the URL; run: its
 * stderr lines beside the onion address), never to a debug log.
 *
 * One line per client, `NAME.auth_private: <service id>:descriptor:x25519:<private key>`: after
 * the colon comes exactly what tor expects in the file `NAME.auth_private` of a client's
 * `ClientOnionAuthDir`, and what `tor.addOnionClientAuth(onion, key)` takes.
 */

/** Said once before the key lines. */
export const CLIENT_AUTH_HINT =
  'client authorization: each client needs its NAME.auth_private line, a secret: what follows "NAME.auth_private: " goes into that file in its tor\'s ClientOnionAuthDir';

/**
 * The key lines of an endpoint, none unless it is an onion service with client authorization. A
 * client kept from an earlier start (`clientAuthDir=`, a hiddenServiceDir's `authorized_clients`)
 * has no private key here, only the client has it: its line says so.
 */
export function clientAuthLines(endpoint: ListeningEndpoint): string[] {
  const { serviceId, clientAuth } = endpoint as Partial<OnionService>;
  if (typeof serviceId !== 'string' || !clientAuth || clientAuth.length === 0) return [];
  return clientAuth.map((c) =>
    c.privateKey !== undefined
      ? `${c.name}.auth_private: ${serviceId}:descriptor:x25519:${c.privateKey}`
      : `${c.name}: authorized with the key it was given before (its NAME.auth_private line must name ${serviceId}: a service without privateKeyFile= has a new address at each start)`,
  );
}
