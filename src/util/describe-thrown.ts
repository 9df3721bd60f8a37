/**
 * What was thrown, as text for a message: an Error's message, else `String(value)`, which throws
 * for an object without a prototype (or with a `toString` that throws): something a third-party
 * plugin can throw must not turn the torcon error made of it into a TypeError.
 */
export function describeThrown(value: unknown): string {
  if (value instanceof Error) return value.message;
  try {
    return String(value);
  } catch {
    return 'a value that cannot be shown as text';
  }
}
