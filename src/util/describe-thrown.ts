/**
 * What was thrown, as text for a message: an Error's message in one line, else `String(value)`, which throws
 * for an object without a prototype (or with a `toString` that throws): something a third-party
 * plugin can throw must not turn the torcon error made of it into a TypeError.
 */
export function describeThrown(value: unknown): string {
  if (value instanceof Error) return errorText(value);
  try {
    return String(value);
  } catch {
    return 'a value that cannot be shown as text';
  }
}

/**
 * An Error's message in one line. An OpenSSL error (a failed TLS handshake) gives its reason and
 * Node's code (`wrong version number (ERR_SSL_WRONG_VERSION_NUMBER)`) rather than OpenSSL's raw
 * line, which carries its source file and a line break; certificate errors (`self-signed
 * certificate`) are already one clean line.
 */
function errorText(err: Error): string {
  const { reason, code } = err as Error & { reason?: unknown; code?: unknown };
  if (typeof reason === 'string' && reason !== '' && typeof code === 'string' && code.startsWith('ERR_SSL_')) return `${reason} (${code})`;
  return err.message.trim().replace(/\s*\n\s*/g, ' ');
}
