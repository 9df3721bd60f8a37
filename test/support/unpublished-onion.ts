import { generateKeyPairSync } from 'node:crypto';
import { serviceIdFromPublicKey } from '../../src/onion/service-id.js';

/** A valid v3 service id for a fresh key: an address nobody has published. */
export function unpublishedServiceId(): string {
  const { x } = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
  return serviceIdFromPublicKey(Buffer.from(x!, 'base64url'));
}

/** {@link unpublishedServiceId} as a hostname: `<id>.onion`. */
export function unpublishedOnion(): string {
  return `${unpublishedServiceId()}.onion`;
}
