import { TypedEmitter } from '../util/typed-emitter.js';
import { TorControlClosedError, TorInvalidValueError } from '../errors.js';
import { assertTorControl, type TorControl } from '../control/tor-control.js';
import { raceCancel, throwIfAborted, type CancelOptions } from '../util/abort.js';
import { CANCEL_OPTION_KEYS, assertCallOptions, nearest, optionKeys } from '../util/known-options.js';
import { logger } from '../util/log.js';
import { addressPolicyProblem } from './address-policy.js';
import {
  encodeConfLines,
  parseConfChangedText,
  parseConfigDefaults,
  parseConfigNames,
  parseGetConfReply,
} from './conf-lines.js';
import type {
  ConfLine,
  ConfigInput,
  ConfigOptionInfo,
  ConfigOptionType,
  ConfigValue,
  HiddenServiceConfig,
} from './config-types.js';
import { isCommaListType, isLineListType, mayHoldBoolean, mayHoldNumber, toConfLines, toTypedValue, typeWithArticle } from './config-values.js';
import {
  HIDDEN_SERVICE_OPTIONS,
  encodeHiddenServiceGroups,
  parseHiddenServiceOptions,
} from './hidden-service-groups.js';

const log = logger('config');

/**
 * tor 0.4.9 exits on a malformed MetricsPortPolicy set by a controller instead of refusing it
 * (see address-policy.ts), so it is checked here first.
 */
function assertMetricsPortPolicy(name: string, lines: readonly ConfLine[]): void {
  for (let i = 0; i < lines.length; i++) {
    const value = lines[i]!.value;
    const problem = value === null ? undefined : addressPolicyProblem(value);
    if (problem !== undefined) {
      const where = lines.length > 1 ? `line ${i + 1}, ${problem}` : problem;
      throw new TorInvalidValueError(`value of ${name}`, `${where}; tor 0.4.9 would exit rather than refuse it`);
    }
  }
}

/** Events of {@link TorConfig}. */
export interface TorConfigEvents {
  /**
   * Tor's configuration changed (a CONF_CHANGED event: our own `set`, another controller, a RELOAD).
   * The changed options are already cleared from the cache when this fires, so reading them asks tor. `changes` are the changed lines, values unquoted,
   * `null` for an option that went back to unset.
   */
  changed: [changes: readonly ConfLine[]];
}

/** Options of the reading methods of {@link TorConfig}. */
export interface GetOptions extends CancelOptions {
  /** Ask tor even when the value is cached (the answer refreshes the cache). @default false */
  fresh?: boolean;
}

/** Options of {@link TorConfig.save}. */
export interface SaveOptions extends CancelOptions {
  /** `SAVECONF FORCE`: write the torrc even when it uses `%include`. @default false */
  force?: boolean;
}

/**
 * The keys of the reading methods' and of save's options (see optionKeys): in JavaScript a
 * misspelt one (`Fresh`, `timeout`) would otherwise be ignored without a word.
 */
const GET_OPTION_KEYS = optionKeys<GetOptions>({ signal: true, timeoutMs: true, fresh: true });
const SAVE_OPTION_KEYS = optionKeys<SaveOptions>({ signal: true, timeoutMs: true, force: true });

/** Options whose values form groups that one SETCONF replaces together (see `hiddenServices`). */
function isGrouped(type: ConfigOptionType | undefined): boolean {
  return type === 'Dependent' || type === 'Virtual';
}

/** Whether option name `name` is `prefix` and more (tor compares names without case). */
function extendsName(name: string, prefix: string): boolean {
  return name.length > prefix.length && name.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase();
}

/** Dependent HiddenService* options: only meaningful inside their HiddenServiceDir group. */
function isHiddenServiceGroupOption(info: ConfigOptionInfo): boolean {
  return /^HiddenService/i.test(info.name) && isGrouped(info.type);
}

/**
 * Tor's configuration, typed and cached, kept live by CONF_CHANGED events.
 *
 * Option names and types come from `GETINFO config/names`, so values are converted by their real type
 * (see `ConfigValue`) and an unknown option name is refused before anything is sent. Reads go through
 * a cache filled by GETCONF (one command for any number of ordinary options). Our own writes clear what
 * they touch at once; a change made elsewhere (another controller, a RELOAD) clears it when tor's
 * CONF_CHANGED event arrives, so until then a read may return the value from before that change (pass
 * `fresh: true` to ask tor anyway). Writes are one SETCONF each, which tor applies
 * all or nothing; every value is quoted, and a CR, LF or NUL anywhere refuses the whole write before
 * any byte is sent.
 *
 * `HiddenServiceDir` services are read and written as whole groups (`hiddenServices`,
 * `setHiddenServices`), because tor treats them that way.
 *
 * @example
 * const config = await TorConfig.create(tor.control);
 * await config.set({ ContactInfo: 'ops@example.org', SocksPort: ['9050', '127.0.0.1:9150 IsolateDestAddr'] });
 * const socks = await config.getList('SocksPort');
 * config.on('changed', (changes) => console.log(changes.map((c) => c.key)));
 */
export class TorConfig extends TypedEmitter<TorConfigEvents> {
  /** Every option this tor knows, by its canonical name. */
  readonly options: ReadonlyMap<string, ConfigOptionInfo>;
  private readonly control: TorControl;
  private readonly byLowerName = new Map<string, ConfigOptionInfo>();
  // A #private field: util.inspect (console.dir with depth) shows TypeScript-private fields, and cached values may be secrets (Socks5ProxyPassword...).
  readonly #cache = new Map<string, ConfLine[]>();
  /**
   * Change clock: every event or write that may change an option ticks it and records the tick for
   * the option, so that a GETCONF reply overtaken by a change is not cached over newer data.
   */
  private epoch = 0;
  private readonly touched = new Map<string, number>();
  private groupsTouched = 0;
  private unsubscribe: (() => Promise<void>) | undefined;
  private isClosed = false;
  private defaultsPromise: Promise<ReadonlyMap<string, readonly string[]>> | undefined;
  private readonly onControlClose = () => this.markClosed();

  /**
   * Builds a TorConfig from known option types. It caches nothing until `start()` has subscribed to
   * CONF_CHANGED (a cache nobody keeps up to date would go stale); `TorConfig.create` does both.
   * @param control an authenticated control connection
   * @param optionInfos the options of `GETINFO config/names` (see `parseConfigNames`)
   */
  constructor(control: TorControl, optionInfos: Iterable<ConfigOptionInfo>) {
    // An async `changed` listener that rejects goes to the method below, not unhandled.
    super({ captureRejections: true });
    this.control = control;
    const options = new Map<string, ConfigOptionInfo>();
    for (const info of optionInfos) {
      options.set(info.name, info);
      this.byLowerName.set(info.name.toLowerCase(), info);
    }
    this.options = options;
  }

  /**
   * Reads `GETINFO config/names` and subscribes to CONF_CHANGED.
   * @throws TorControlError / TorControlClosedError from the control connection
   * @throws TorAbortError (`TOR_ABORTED`) / TorTimeoutError (`TOR_TIMEOUT`) per `opts`
   * @example const config = await TorConfig.create(control, { timeoutMs: 10_000 });
   */
  static async create(control: TorControl, opts: CancelOptions = {}): Promise<TorConfig> {
    assertTorControl(control, 'TorConfig control');
    // A JavaScript caller's null means no options, as undefined does (so in every method below).
    opts ??= {};
    assertCallOptions(opts, CANCEL_OPTION_KEYS, 'TorConfig.create');
    const names = await control.getInfo('config/names', opts);
    const config = new TorConfig(control, parseConfigNames(names));
    await config.start(opts);
    return config;
  }

  /**
   * Subscribes to CONF_CHANGED so that the cache can be used. Idempotent.
   * @throws TorAbortError / TorTimeoutError per `opts`; TorControlError if tor refuses the event
   */
  async start(opts: CancelOptions = {}): Promise<void> {
    this.assertOpen();
    opts ??= {};
    assertCallOptions(opts, CANCEL_OPTION_KEYS, 'config.start');
    if (this.unsubscribe) return;
    const subscribing = this.control.subscribe('CONF_CHANGED', (e) => this.onConfChanged(e.raw));
    let off: () => Promise<void>;
    try {
      off = await raceCancel(subscribing, 'TorConfig subscription', opts);
    } catch (err) {
      // The subscription may still complete after we gave up: undo it then.
      subscribing.then((late) => late().catch(() => undefined)).catch(() => undefined);
      throw err;
    }
    if (this.isClosed) {
      await off().catch(() => undefined);
      this.assertOpen();
    }
    this.unsubscribe = off;
    this.control.on('close', this.onControlClose);
  }

  /**
   * True once closed: by `close()`, or by the control connection closing. A closed TorConfig
   * refuses every call with TorControlClosedError (`tor.getConfig()` then builds a new one).
   */
  get closed(): boolean {
    return this.isClosed;
  }

  /** The option's info (canonical name, type), or `undefined` for a name this tor does not know. */
  optionInfo(name: string): ConfigOptionInfo | undefined {
    return typeof name === 'string' ? this.byLowerName.get(name.toLowerCase()) : undefined;
  }

  /** The option's type, or `undefined` for a name this tor does not know. */
  typeOf(name: string): ConfigOptionType | undefined {
    return this.optionInfo(name)?.type;
  }

  /**
   * One option's typed value (see `ConfigValue`).
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a name this tor does not know, or a
   *   virtual option (`SocksPortLines`: read `SocksPort` and `__SocksPort`; `HiddenServiceOptions`:
   *   use `hiddenServices()`), whose lines tor gives under other options' keys
   * @throws TorControlError / TorControlClosedError from the control connection
   * @example const contact = await config.get('ContactInfo'); // string | null
   */
  async get(name: string, opts: GetOptions = {}): Promise<ConfigValue> {
    const info = this.requireReadable(name);
    const lines = await this.fetchLines([info], opts);
    return toTypedValue(info.type, lines.get(info.name)!);
  }

  /**
   * Several options' typed values, keyed as asked. Options missing from the cache are read with one
   * GETCONF; a group option whose name extends another one asked (`HiddenServiceDirGroupReadable`
   * beside `HiddenServiceDir`) needs its own, sent at the same time.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a name this tor does not know or a virtual
   *   option, as `get` (nothing is sent)
   * @example const { SocksPort, DisableNetwork } = await config.getMany(['SocksPort', 'DisableNetwork']);
   */
  async getMany(names: readonly string[], opts: GetOptions = {}): Promise<Record<string, ConfigValue>> {
    const infos = optionNames(names).map((n) => this.requireReadable(n));
    const lines = await this.fetchLines(infos, opts);
    const out: Record<string, ConfigValue> = {};
    names.forEach((asked, i) => {
      const info = infos[i]!;
      out[asked] = toTypedValue(info.type, lines.get(info.name)!);
    });
    return out;
  }

  /**
   * One option's values exactly as tor reports them (unquoted), one per line; `[]` when tor reports
   * the option bare (unset).
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for an unknown name or a virtual option, as `get`
   */
  async getRaw(name: string, opts: GetOptions = {}): Promise<string[]> {
    const info = this.requireReadable(name);
    const lines = await this.fetchLines([info], opts);
    return lines
      .get(info.name)!
      .filter((l) => l.value !== null)
      .map((l) => l.value as string);
  }

  /**
   * A Boolean (or Boolean+Auto) option; `null` when unset.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for an unknown name, an option of another
   *   type (a number, text or a list, set or not: nothing is sent), or a value that is not a
   *   boolean (e.g. `auto`)
   */
  async getBoolean(name: string, opts: GetOptions = {}): Promise<boolean | null> {
    const info = this.requireReadable(name);
    if (!mayHoldBoolean(info.type)) throw new TorInvalidValueError(`config option ${info.name}`, `is ${typeWithArticle(info.type)}, not a boolean`);
    const v = await this.get(info.name, opts);
    if (v === null || typeof v === 'boolean') return v;
    throw new TorInvalidValueError(`config option ${info.name}`, 'does not hold a boolean');
  }

  /**
   * A numeric option (integers, intervals in their unit, sizes in bytes, floats); `null` when unset.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for an unknown name, an option of another
   *   type (a boolean, text or a list, set or not: nothing is sent), a value that is not a number,
   *   or an integer too large to be exact as a number (use `get` for a bigint)
   */
  async getNumber(name: string, opts: GetOptions = {}): Promise<number | null> {
    const info = this.requireReadable(name);
    if (!mayHoldNumber(info.type)) throw new TorInvalidValueError(`config option ${info.name}`, `is ${typeWithArticle(info.type)}, not a number`);
    const v = await this.get(info.name, opts);
    if (v === null || typeof v === 'number') return v;
    const field = `config option ${info.name}`;
    if (typeof v === 'bigint') throw new TorInvalidValueError(field, 'is too large to be exact as a number');
    throw new TorInvalidValueError(field, 'does not hold a number');
  }

  /**
   * A single-valued option's text as tor writes it (e.g. a DataSize in bytes); `null` when unset.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for an unknown name or a line-list option
   */
  async getString(name: string, opts: GetOptions = {}): Promise<string | null> {
    const info = this.requireReadable(name);
    if (isLineListType(info.type)) {
      throw new TorInvalidValueError(`config option ${info.name}`, `is ${typeWithArticle(info.type)}: use getList()`);
    }
    const raw = await this.getRaw(info.name, opts);
    return raw.length > 0 ? raw[raw.length - 1]! : null;
  }

  /**
   * A list option: one element per line (`LineList`, `Dependent`, e.g. `SocksPort`, `ExitPolicy`)
   * or per comma-separated item (`CommaList`, `RouterList`, e.g. `ExitNodes`).
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for an unknown name, a single-valued option or
   *   a virtual one, as `get`
   */
  async getList(name: string, opts: GetOptions = {}): Promise<string[]> {
    const info = this.requireReadable(name);
    if (!isLineListType(info.type) && !isCommaListType(info.type)) {
      throw new TorInvalidValueError(`config option ${info.name}`, `is ${typeWithArticle(info.type)}, not a list`);
    }
    return (await this.get(info.name, opts)) as string[];
  }

  /**
   * Sets options with one SETCONF (tor applies all or none). An array sets a list option (one line
   * per element, or comma-joined for CommaList/RouterList); `null` sends the bare key, which tor takes
   * as 0/empty (use `reset` for the default). Every name and value is checked before anything is sent.
   * tor keeps a port option and its `__` twin (`SocksPort` and `__SocksPort`, the ports a controller
   * opened that SAVECONF leaves out) in one list, and setting either replaces both: set them in one
   * call to keep both.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for an unknown or virtual option, one given
   *   twice in different case, a HiddenService group option (use `setHiddenServices`), `undefined` (sent bare it
   *   would set the option to 0 or empty: give `null` for that), a list for a single-valued option, a
   *   value with CR, LF, NUL or a lone surrogate, or a number a whole-number option would not keep
   *   exactly (a fraction, or beyond 2^53: give a bigint), a number a Float option would not read back
   *   and save exactly (tor writes Floats with six decimals), or a MetricsPortPolicy entry that is not
   *   `accept|reject[6] ADDRESS[/MASK][:PORT]` (tor 0.4.9 exits on a malformed one instead of refusing it)
   * @throws TorControlError (`TOR_CONTROL_ERROR`) when tor refuses the values (e.g. 513, 553)
   * @example await config.set({ ContactInfo: 'me <me@example.org>', SocksPort: ['auto', '127.0.0.1:auto IsolateDestAddr'] });
   */
  async set(values: Readonly<Record<string, ConfigInput>>, opts: CancelOptions = {}): Promise<void> {
    this.assertOpen();
    if (values === null || typeof values !== 'object' || Array.isArray(values)) {
      throw new TorInvalidValueError('config values', 'must be an object of option names to values');
    }
    const lines: ConfLine[] = [];
    const names: ConfigOptionInfo[] = [];
    for (const [name, input] of Object.entries(values)) {
      const info = this.requireOption(name);
      // Option names are case-insensitive: `{ SocksPort: [...], socksport: [...] }` would reach tor
      // as one list with both values, `{ ContactInfo: 'a', contactinfo: 'b' }` as 'b' alone.
      if (names.includes(info)) {
        throw new TorInvalidValueError(`config option ${info.name}`, 'is given twice (option names are case-insensitive): give it once');
      }
      if (info.type === 'Virtual') {
        throw new TorInvalidValueError(`config option ${info.name}`, 'is virtual: set the options it stands for');
      }
      if (isHiddenServiceGroupOption(info)) {
        throw new TorInvalidValueError(
          `config option ${info.name}`,
          'belongs to a HiddenServiceDir group: use setHiddenServices()',
        );
      }
      names.push(info);
      const optionLines = toConfLines(info.name, info.type, input);
      if (info.name.toLowerCase() === 'metricsportpolicy') assertMetricsPortPolicy(info.name, optionLines);
      lines.push(...optionLines);
    }
    const encoded = encodeConfLines(lines);
    await this.write(`SETCONF ${encoded}`, names, opts);
  }

  /**
   * Puts options back to their defaults (RESETCONF, one command).
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for an unknown name (nothing is sent)
   * @throws TorControlError (`TOR_CONTROL_ERROR`) when tor refuses
   */
  async reset(names: readonly string[], opts: CancelOptions = {}): Promise<void> {
    this.assertOpen();
    const infos = optionNames(names).map((n) => this.requireOption(n));
    const encoded = encodeConfLines(infos.map((i) => ({ key: i.name, value: null })));
    await this.write(`RESETCONF ${encoded}`, infos, opts);
  }

  /**
   * SAVECONF: tor writes its configuration to its torrc, the file `GETINFO config-file` names.
   * A tor started without a torrc of its own (`-f` missing, `--ignore-missing-torrc`) names its
   * default path there, such as `/etc/tor/torrc`, and tor then writes that file, renaming what
   * was there to `torrc.orig.1`. A tor from `launchTor()` writes the torrc torcon wrote for it.
   * @throws TorControlError (`TOR_CONTROL_ERROR`, status 551) when tor cannot write the file
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a `force` that is not a boolean (nothing is sent)
   */
  async save(opts: SaveOptions = {}): Promise<void> {
    this.assertOpen();
    opts ??= {};
    // `force: 'no'` would be truthy: a SAVECONF FORCE nobody meant.
    assertCallOptions(opts, SAVE_OPTION_KEYS, 'config.save');
    if (opts.force !== undefined && typeof opts.force !== 'boolean') {
      throw new TorInvalidValueError('force', 'must be a boolean');
    }
    await this.control.command(opts.force ? 'SAVECONF FORCE' : 'SAVECONF', opts);
  }

  /**
   * The `HiddenServiceDir` onion services in tor's configuration, in order, each with every option of
   * its group (`GETCONF HiddenServiceOptions`). Services added with ADD_ONION are not configuration and
   * do not appear here.
   * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for a reply that does not form groups
   */
  async hiddenServices(opts: GetOptions = {}): Promise<HiddenServiceConfig[]> {
    const info = this.requireOption(HIDDEN_SERVICE_OPTIONS);
    const lines = await this.fetchLines([info], opts);
    return parseHiddenServiceOptions(lines.get(info.name)!);
  }

  /**
   * Replaces every `HiddenServiceDir` service with `groups`, in one order-preserving SETCONF (tor
   * replaces all groups whenever any is set). Read with `hiddenServices()`, edit, write back: options
   * torcon does not know survive. An empty list removes them all.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a malformed group, an option that is not
   *   one of this tor's HiddenServiceDir group options (a global one such as `HiddenServiceStatistics`,
   *   or a name tor does not know), or a value with CR/LF/NUL (nothing is sent)
   * @throws TorControlError (`TOR_CONTROL_ERROR`) when tor refuses the groups (e.g. a bad port)
   * @example
   * const services = await config.hiddenServices();
   * services.push({ dir: '/var/lib/tor/web', ports: ['80 127.0.0.1:8080'], options: [] });
   * await config.setHiddenServices(services);
   */
  async setHiddenServices(groups: readonly HiddenServiceConfig[], opts: CancelOptions = {}): Promise<void> {
    this.assertOpen();
    const encoded = encodeConfLines(encodeHiddenServiceGroups(groups).map((line) => this.groupLine(line)));
    await this.write(`SETCONF ${encoded}`, [this.requireOption(HIDDEN_SERVICE_OPTIONS)], opts);
  }

  /**
   * Tor's default values (`GETINFO config/defaults`), as tor writes them there (e.g. `8 days`,
   * `100 KB`), by option name; read once. Calls made meanwhile share the read; each call's
   * `signal` and `timeoutMs` bound only its own wait.
   */
  defaults(opts: CancelOptions = {}): Promise<ReadonlyMap<string, readonly string[]>> {
    opts ??= {};
    try {
      this.assertOpen();
      assertCallOptions(opts, CANCEL_OPTION_KEYS, 'config.defaults');
    } catch (err) {
      // Not an async function: a refusal must still arrive as a rejection.
      return Promise.reject(err);
    }
    if (!this.defaultsPromise) {
      // Without this caller's options: a later caller may be willing to wait longer.
      const p = this.control.getInfo('config/defaults').then(parseConfigDefaults);
      this.defaultsPromise = p;
      p.catch(() => {
        if (this.defaultsPromise === p) this.defaultsPromise = undefined;
      });
    }
    return raceCancel(this.defaultsPromise, 'GETINFO config/defaults', opts);
  }

  /** Unsubscribes from CONF_CHANGED and drops the cache. Idempotent; the control connection stays open. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    const off = this.markClosed();
    if (off && !this.control.closed) await off().catch(() => undefined);
  }

  /** `close()`, for `await using config = await TorConfig.create(tor.control)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private markClosed(): (() => Promise<void>) | undefined {
    this.isClosed = true;
    this.#cache.clear();
    this.control.off('close', this.onControlClose);
    const off = this.unsubscribe;
    this.unsubscribe = undefined;
    return off;
  }

  private assertOpen(): void {
    if (this.isClosed) throw new TorControlClosedError('this TorConfig is closed');
  }

  private requireOption(name: string): ConfigOptionInfo {
    const info = this.optionInfo(name);
    if (!info) {
      const shown = typeof name === 'string' && /^[\w-]{1,64}$/.test(name);
      // `SocksPorts`, `ExitNode`: the option it nearly is, as call options name theirs. Looked for
      // only here, on the way to an error, since tor has hundreds of options.
      const near = shown ? nearest(name, [...this.options.keys()]) : undefined;
      throw new TorInvalidValueError(
        'config option name',
        shown
          ? `${name} is not an option of this tor${near !== undefined ? ` (did you mean ${near}?)` : ''} (see GETINFO config/names)`
          : 'is not an option of this tor',
      );
    }
    return info;
  }

  /**
   * An option the reading methods can give a value for. A virtual option is refused: tor answers
   * it with the lines of the options it stands for, each under its own key (`GETCONF SocksPortLines`
   * gives `SocksPort=` and `__SocksPort=` lines, `GETCONF HiddenServiceOptions` every line of every
   * group), so its values without their keys would mix options up.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for an unknown or virtual option
   */
  private requireReadable(name: string): ConfigOptionInfo {
    const info = this.requireOption(name);
    if (info.type !== 'Virtual') return info;
    let instead = 'read the options it stands for';
    if (info.name === HIDDEN_SERVICE_OPTIONS) instead = 'read the HiddenServiceDir groups with hiddenServices()';
    else if (info.name.endsWith('Lines')) {
      // SocksPortLines stands for SocksPort and __SocksPort (the ports a controller opened that SAVECONF leaves out).
      const parts = [info.name.slice(0, -'Lines'.length), `__${info.name.slice(0, -'Lines'.length)}`].filter((n) => this.options.has(n));
      if (parts.length > 0) instead = `the lines of ${parts.join(' and ')} under their own keys: read ${parts.join(' and ')}`;
    }
    throw new TorInvalidValueError(`config option ${info.name}`, `is virtual, ${instead}`);
  }

  /**
   * A line of a HiddenServiceDir group, its key spelled as tor spells it (so that the group reads
   * back as written). Only tor's group options go in a group: a global one such as
   * `HiddenServiceStatistics` would be set for the whole tor, and not read back with the group.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for any other key
   */
  private groupLine(line: ConfLine): ConfLine {
    const info = this.optionInfo(line.key);
    if (info && isHiddenServiceGroupOption(info)) return info.name === line.key ? line : { key: info.name, value: line.value };
    const name = /^[\w-]{1,64}$/.test(line.key) ? line.key : 'the option';
    throw new TorInvalidValueError(
      'hidden service option name',
      info
        ? `${name} is not an option of a HiddenServiceDir group but of the whole tor: set it with set()`
        : `${name} is not an option of this tor (see GETINFO config/names)`,
    );
  }

  /** Last tick at which `info`'s value may have changed. */
  private lastChange(info: ConfigOptionInfo): number {
    const own = this.touched.get(info.name) ?? 0;
    return isGrouped(info.type) ? Math.max(own, this.groupsTouched) : own;
  }

  private touch(name: string): void {
    this.touched.set(name, ++this.epoch);
    this.#cache.delete(name);
  }

  /** Forgets every Dependent/Virtual option: they share lines, so a change to one may change others. */
  private touchGroups(): void {
    this.groupsTouched = ++this.epoch;
    for (const name of [...this.#cache.keys()]) {
      if (isGrouped(this.options.get(name)?.type)) this.#cache.delete(name);
    }
  }

  private touchAll(): void {
    for (const name of [...this.#cache.keys()]) this.touch(name);
    this.touchGroups();
  }

  /** Sends a SETCONF/RESETCONF and forgets what it may have changed, whatever the outcome. */
  private async write(line: string, infos: readonly ConfigOptionInfo[], opts: CancelOptions): Promise<void> {
    assertCallOptions(opts, CANCEL_OPTION_KEYS, 'config write');
    try {
      await this.control.command(line, opts);
    } finally {
      for (const info of infos) {
        this.touch(info.name);
        if (isGrouped(info.type)) this.touchGroups();
      }
    }
  }

  /**
   * The GETCONF lines of each option, from the cache or from tor. Ordinary options share one
   * GETCONF; each virtual option gets its own (its reply lines carry other keys), sent together.
   */
  private async fetchLines(
    infos: readonly ConfigOptionInfo[],
    opts: GetOptions,
  ): Promise<Map<string, ConfLine[]>> {
    this.assertOpen();
    opts ??= {};
    // Also when every value comes from the cache: a bad timeout is refused the same every time.
    assertCallOptions(opts, GET_OPTION_KEYS, 'config read');
    // `fresh: 'false'` would be truthy: tor asked when the cache was meant.
    if (opts.fresh !== undefined && typeof opts.fresh !== 'boolean') throw new TorInvalidValueError('fresh', 'must be a boolean');
    // Also when every value comes from the cache: a signal already aborted is refused by every call.
    throwIfAborted(opts.signal, 'GETCONF');
    const out = new Map<string, ConfLine[]>();
    const live = this.unsubscribe !== undefined;
    const useCache = live && !opts.fresh;
    const plain: ConfigOptionInfo[] = [];
    const virtual: ConfigOptionInfo[] = [];
    for (const info of infos) {
      if (out.has(info.name)) continue;
      const cached = useCache ? this.#cache.get(info.name) : undefined;
      if (cached) {
        out.set(info.name, cached);
        continue;
      }
      out.set(info.name, []);
      (info.type === 'Virtual' ? virtual : plain).push(info);
    }
    if (plain.length === 0 && virtual.length === 0) return out;
    // Tor answers a grouped option with every line of its group whose key starts with the name
    // asked (GETCONF HiddenServiceDir also gives HiddenServiceDirGroupReadable). Asked together
    // with the longer name, those lines would come twice: the longer one is asked on its own.
    const apart = plain.filter((info) => isGrouped(info.type) && plain.some((o) => o !== info && isGrouped(o.type) && extendsName(info.name, o.name)));
    const together = apart.length === 0 ? plain : plain.filter((info) => !apart.includes(info));
    const started = this.epoch;
    const cancel: CancelOptions = { signal: opts.signal, timeoutMs: opts.timeoutMs };
    const requests: Array<Promise<void>> = [];
    const askPlain = (asked: readonly ConfigOptionInfo[]) =>
      this.control.command(`GETCONF ${asked.map((i) => i.name).join(' ')}`, cancel).then((reply) => {
        for (const line of parseGetConfReply(reply)) {
          const info = this.optionInfo(line.key);
          // Tor may add lines of a neighbouring option (e.g. HiddenServiceDirGroupReadable after
          // HiddenServiceDir): keep only what was asked in this command.
          if (info && asked.includes(info)) out.get(info.name)!.push(line);
        }
      });
    if (together.length > 0) requests.push(askPlain(together));
    for (const info of apart) requests.push(askPlain([info]));
    for (const info of virtual) {
      requests.push(
        this.control.command(`GETCONF ${info.name}`, cancel).then((reply) => {
          out.get(info.name)!.push(...parseGetConfReply(reply));
        }),
      );
    }
    const settled = await Promise.allSettled(requests);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    if (live && !this.isClosed) {
      for (const info of [...plain, ...virtual]) {
        if (this.lastChange(info) <= started) this.#cache.set(info.name, out.get(info.name)!);
      }
    }
    return out;
  }

  private onConfChanged(raw: string): void {
    if (this.isClosed) return;
    let lines: ConfLine[];
    try {
      lines = parseConfChangedText(raw);
    } catch (err) {
      // We cannot tell what changed: forget everything rather than serve stale values.
      log('unparsable CONF_CHANGED event, cache dropped: %s', (err as Error).message);
      this.touchAll();
      return;
    }
    const byName = new Set<string>();
    for (const line of lines) byName.add(this.optionInfo(line.key)?.name ?? line.key);
    // The event's values are not cached, only the fact that they changed. Tor queues events and
    // sends them after the replies of commands it has already answered, so an event may describe a
    // state older than a GETCONF reply we already have (set v1, set v2, get -> v2, then v1's event):
    // caching its value could undo a newer one. Forgetting is always safe; the next read asks tor.
    for (const name of byName) {
      const info = this.options.get(name);
      this.touch(name);
      if (!info || isGrouped(info.type)) this.touchGroups();
    }
    try {
      this.emit('changed', lines);
    } catch (err) {
      log('a "changed" listener threw: %O', err);
    }
  }

  /** @internal Where EventEmitter sends an async listener's rejection (see the constructor). */
  [Symbol.for('nodejs.rejection')](err: unknown, event: string): void {
    log('a "%s" listener rejected: %O', event, err);
  }
}

/** A list of option names, as getMany and reset take it. @throws TorInvalidValueError for anything else */
function optionNames(names: readonly string[]): readonly string[] {
  if (!Array.isArray(names)) throw new TorInvalidValueError('config option names', 'must be an array of option names');
  return names;
}
