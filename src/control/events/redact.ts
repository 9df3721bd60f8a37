/**
 * Redaction of event text for logs and error messages. Events carry SOCKS credentials
 * (SOCKS_USERNAME / SOCKS_PASSWORD on CIRC and STREAM), and Tor Browser uses the password as a
 * per-site isolation secret, so `raw` must not reach a log unredacted.
 */

const SOCKS_PASSWORD = /\bSOCKS_PASSWORD=("(?:[^"\\]|\\.)*"?|\S*)/g;

/**
 * Replaces the value of every SOCKS_PASSWORD keyword in an event text with `[redacted]`.
 *
 * @param text - an event's `raw`, or any control-protocol text
 * @returns the text with the passwords masked
 * @example
 * redactEventText('STREAM 1 NEW 0 a:1 SOCKS_PASSWORD="s3cret"') // 'STREAM 1 NEW 0 a:1 SOCKS_PASSWORD=[redacted]'
 */
export function redactEventText(text: string): string {
  return text.replace(SOCKS_PASSWORD, 'SOCKS_PASSWORD=[redacted]');
}
