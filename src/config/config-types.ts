/**
 * Types of tor's configuration as torcon models it. Option types are the ones `GETINFO config/names`
 * reports (control-spec 3.9, "config/names"); tor adds types over time, so the union stays open.
 */

/** An option's type as `GETINFO config/names` spells it (`Dependant` is normalized to `Dependent`). */
export type ConfigOptionType =
  | 'Boolean'
  | 'Boolean+Auto'
  | 'Integer'
  | 'SignedInteger'
  | 'Port'
  | 'TimeInterval'
  | 'TimeMsecInterval'
  | 'Interval'
  | 'DataSize'
  | 'Float'
  | 'Time'
  | 'String'
  | 'Filename'
  | 'CommaList'
  | 'RouterList'
  | 'LineList'
  | 'Dependent'
  | 'Virtual'
  | (string & {});

/** One line of `GETINFO config/names`. */
export interface ConfigOptionInfo {
  /** The option name as tor spells it, e.g. `SocksPort`. */
  name: string;
  type: ConfigOptionType;
  /** Tor's one-line description, when it gives one (tor 0.4.x gives none). */
  description?: string;
}

/**
 * One configuration line as tor reports it in GETCONF replies and CONF_CHANGED events: a key and its
 * value, unquoted; `value` is `null` for a bare key (tor's "at its default / unset").
 */
export interface ConfLine {
  key: string;
  value: string | null;
}

/** A single value accepted by `TorConfig.set`. Booleans become `1`/`0`; numbers are written in decimal. */
export type ConfigScalar = string | number | bigint | boolean;

/**
 * A value accepted by `TorConfig.set` for one option: a scalar, an array (one line per element for
 * `LineList`/`Dependent` options, comma-joined for `CommaList`/`RouterList`), or `null` to send the key
 * bare (tor then sets the option to 0/empty; use `reset` to go back to the default).
 */
export type ConfigInput = ConfigScalar | readonly ConfigScalar[] | null;

/**
 * A typed option value as `TorConfig.get` returns it:
 * - `Boolean`: `true`/`false`; `Boolean+Auto`: also `'auto'`;
 * - `Integer`, `SignedInteger`, `Port`, `TimeInterval` (seconds), `TimeMsecInterval` (ms),
 *   `DataSize` (bytes): a `number` when it is a safe integer, else a `bigint` (exact either way);
 * - `Float`: a `number`, as tor writes it, with six decimals (`set` refuses a number six decimals do
 *   not hold; `inf`, which tor takes, comes back as that string);
 * - `LineList`, `Dependent`: `string[]`, one element per line (`Virtual` options are not read this
 *   way: tor gives their lines under other options' keys);
 * - `CommaList`, `RouterList`: `string[]`, one element per comma-separated item;
 * - everything else: a `string`;
 * - `null` when tor reports the option bare (unset, no value), for the scalar types.
 * A value tor writes in a form its type does not predict is returned as the `string` tor sent.
 */
export type ConfigValue = string | number | bigint | boolean | string[] | null;

/**
 * One onion service configured through `HiddenServiceDir` (a torrc/SETCONF group: a
 * `HiddenServiceDir` line and the `HiddenService*` lines after it, up to the next `HiddenServiceDir`).
 * Written back, a group's lines go in the order dir, version, ports, options: the ports keep their
 * order and the options theirs, but a port that tor listed after an option comes before it (tor
 * reads a group the same whatever the order of its lines).
 */
export interface HiddenServiceConfig {
  /** `HiddenServiceDir`. */
  dir: string;
  /** `HiddenServicePort` values in order, e.g. `80 127.0.0.1:8080`. */
  ports: string[];
  /** `HiddenServiceVersion`, when the group sets it. */
  version?: number;
  /**
   * Every other line of the group (`HiddenServiceMaxStreams`, `HiddenServiceDirGroupReadable`,
   * options torcon does not know...), in tor's order, as `[key, value]`. Written back unchanged.
   */
  options: Array<[key: string, value: string]>;
}
