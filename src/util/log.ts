import createDebug from 'debug';

/**
 * Debug loggers, one namespace per layer (`DEBUG=torcon:*`). Never pass a secret to these: use
 * `redactCommand` from the control layer for anything that came off or goes on the wire.
 */
export function logger(namespace: string): createDebug.Debugger {
  return createDebug(`torcon:${namespace}`);
}
