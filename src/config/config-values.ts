/**
 * Conversion between tor's textual option values and typed JavaScript values, driven by the option
 * types of `GETINFO config/names`. Pure functions.
 */

import { TorInvalidValueError } from '../errors.js';
import { undefinedValue } from '../control/wire-values.js';
import type { ConfLine, ConfigInput, ConfigOptionType, ConfigScalar, ConfigValue } from './config-types.js';

/** Types whose value is a list of whole lines (one GETCONF/SETCONF line per element). */
const LINE_LIST_TYPES: ReadonlySet<string> = new Set(['LineList', 'Dependent', 'Virtual']);
/** Types whose value is one line holding a comma-separated list. */
const COMMA_LIST_TYPES: ReadonlySet<string> = new Set(['CommaList', 'RouterList']);
/** Types tor writes as a decimal integer in GETCONF replies (intervals in their unit, sizes in bytes). */
const INTEGER_TYPES: ReadonlySet<string> = new Set([
  'Integer',
  'SignedInteger',
  'Port',
  'TimeInterval',
  'TimeMsecInterval',
  'Interval',
  'DataSize',
  'UInt',
  'Int',
]);

/** Types whose values are text: never a number or a boolean. */
const TEXT_TYPES: ReadonlySet<string> = new Set(['String', 'Filename', 'Time']);

/**
 * Whether an option of `type` can hold a number: false for the types known to hold something else
 * (booleans, text, lists), so that getNumber refuses them by type rather than only once one is set.
 * A type this tor has and torcon does not know may.
 */
export function mayHoldNumber(type: ConfigOptionType): boolean {
  return !(type === 'Boolean' || type === 'Boolean+Auto' || TEXT_TYPES.has(type) || isLineListType(type) || isCommaListType(type));
}

/** Whether an option of `type` can hold a boolean: as {@link mayHoldNumber}, for getBoolean. */
export function mayHoldBoolean(type: ConfigOptionType): boolean {
  return !(INTEGER_TYPES.has(type) || type === 'Float' || TEXT_TYPES.has(type) || isLineListType(type) || isCommaListType(type));
}

/** An option type with its article, for messages: `an Integer`, `a LineList`. */
export function typeWithArticle(type: ConfigOptionType): string {
  return `${/^[AEIOU]/i.test(type) ? 'an' : 'a'} ${type}`;
}

/** True for types whose value is several lines (`LineList`, `Dependent`, `Virtual`). */
export function isLineListType(type: ConfigOptionType | undefined): boolean {
  return type !== undefined && LINE_LIST_TYPES.has(type);
}

/** True for types whose value is a comma-separated list (`CommaList`, `RouterList`). */
export function isCommaListType(type: ConfigOptionType | undefined): boolean {
  return type !== undefined && COMMA_LIST_TYPES.has(type);
}

/** A decimal integer as a number when that is exact, else as a bigint; `undefined` if not an integer. */
export function parseExactInteger(text: string): number | bigint | undefined {
  if (!/^[-+]?\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

/**
 * The typed value of an option from the lines tor reported for it (see {@link ConfigValue}).
 * @param type the option's type from `config/names`; `undefined` for an option tor did not list
 * @param lines the option's GETCONF lines, in order
 */
export function toTypedValue(type: ConfigOptionType | undefined, lines: readonly ConfLine[]): ConfigValue {
  const values = lines.filter((l) => l.value !== null).map((l) => l.value as string);
  if (isLineListType(type)) return values;
  if (type === undefined && values.length > 1) return values;
  const last = values.length > 0 ? values[values.length - 1]! : null;
  if (isCommaListType(type)) {
    if (last === null) return [];
    return last
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  }
  if (last === null) return null;
  if (type === 'Boolean' || type === 'Boolean+Auto') {
    if (last === '1') return true;
    if (last === '0') return false;
    return last; // 'auto', or a spelling this tor version introduced
  }
  if (type !== undefined && INTEGER_TYPES.has(type)) return parseExactInteger(last) ?? last;
  if (type === 'Float') {
    const n = Number(last);
    return last.trim() !== '' && Number.isFinite(n) ? n : last;
  }
  return last;
}

function scalarText(name: string, type: ConfigOptionType | undefined, v: ConfigScalar): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'boolean':
      return v ? '1' : '0';
    case 'bigint':
      return v.toString();
    case 'number':
      if (!Number.isFinite(v)) throw new TorInvalidValueError(`value of ${name}`, 'is not a finite number');
      // tor reads "1.5" for an integer option as 1 without a word (and 1e21 not at all): refuse
      // what it would not keep exactly.
      if (type !== undefined && INTEGER_TYPES.has(type) && !Number.isSafeInteger(v)) {
        throw new TorInvalidValueError(
          `value of ${name}`,
          Number.isInteger(v) ? 'is too large to be exact as a number: give a bigint or a string' : `is ${typeWithArticle(type)}: it takes a whole number`,
        );
      }
      // tor keeps a Float as given but writes it with six decimals (printf %f) in GETCONF replies
      // and in the file SAVECONF writes: 0.1234567 would read back, and come back after a restart,
      // as 0.123457 (1e-7 as 0). Refuse what six decimals do not hold, as for whole numbers above.
      if (type === 'Float' && Number(v.toFixed(6)) !== v) {
        throw new TorInvalidValueError(
          `value of ${name}`,
          'is a Float, which tor reads back and saves with six decimals: give a number six decimals hold exactly (or a string, sent as it is)',
        );
      }
      return String(v);
    default:
      throw new TorInvalidValueError(`value of ${name}`, `has unsupported type ${typeof v}`);
  }
}

/**
 * The SETCONF lines for one option: an array gives one line per element for line-list types and one
 * comma-joined line for comma-list types; `null` (or an empty array for a line list) gives the bare key.
 * Values are not quoted or checked for CR/LF here: `encodeConfLines` does that for every line.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for an array given to a single-valued option,
 *   `undefined`, or a value of an unsupported type
 */
export function toConfLines(name: string, type: ConfigOptionType | undefined, input: ConfigInput): ConfLine[] {
  if (input === undefined) throw undefinedValue(name);
  if (input === null) return [{ key: name, value: null }];
  if (Array.isArray(input)) {
    const items = (input as readonly ConfigScalar[]).map((v) => scalarText(name, type, v));
    if (isCommaListType(type)) {
      for (const item of items) {
        if (item.includes(',')) throw new TorInvalidValueError(`value of ${name}`, 'a list item contains ","');
      }
      return [{ key: name, value: items.join(',') }];
    }
    if (!isLineListType(type) && type !== undefined) {
      throw new TorInvalidValueError(`value of ${name}`, `${name} is ${typeWithArticle(type)}, it takes one value, not a list`);
    }
    if (items.length === 0) return [{ key: name, value: null }];
    return items.map((value) => ({ key: name, value }));
  }
  return [{ key: name, value: scalarText(name, type, input as ConfigScalar) }];
}
