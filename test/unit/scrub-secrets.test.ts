import assert from 'node:assert/strict';
import { scrubSecrets } from '../../src/control/wire-values.js';

// tor's error replies are scrubbed of the secrets the command carried before they reach a message
// or the log. Every substring used to be replaced: a one-letter password cut tor's message to
// pieces ("Unacc[redacted]ptabl[redacted] option valu[redacted]"), and the marks told the secret.

describe('scrubSecrets: a secret is replaced where it stands as a value, not inside a word', () => {
  const table: Array<[string, string, string[], string]> = [
    ['a short secret inside words', '513 Unacceptable option value: Socks5Proxy failed to parse or resolve. Please fix.', ['e', 'x'], '513 Unacceptable option value: Socks5Proxy failed to parse or resolve. Please fix.'],
    ['a quoted key', '553 Invalid private key "c2VjcmV0a2V5"', ['c2VjcmV0a2V5'], '553 Invalid private key "[redacted]"'],
    ['after a colon and at the end', 'Failed to decode key "ED25519-V3:Ym9ibGFo=="', ['Ym9ibGFo=='], 'Failed to decode key "ED25519-V3:[redacted]"'],
    ['after = and before a full stop', 'Socks5ProxyPassword=hunter2.', ['hunter2'], 'Socks5ProxyPassword=[redacted].'],
    ['every standalone occurrence', 'a b a', ['a'], '[redacted] b [redacted]'],
    ['the whole text', 'hunter2', ['hunter2'], '[redacted]'],
    ['longest first', 'key abc:abcdef', ['abc', 'abc:abcdef'], 'key [redacted]'],
    ['no secrets', 'nothing to hide', [], 'nothing to hide'],
  ];
  for (const [name, text, secrets, expected] of table) {
    it(name, () => assert.equal(scrubSecrets(text, secrets), expected));
  }
});
