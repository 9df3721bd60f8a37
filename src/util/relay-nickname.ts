/**
 * A relay nickname as tor's dir-spec defines it: 1 to 19 ASCII letters and digits. The state
 * (router lookups, circuit paths), the descriptor parser and the test network all check names
 * against this one rule, so that a name one of them accepts the others accept too.
 */
const NICKNAME_RE = /^[A-Za-z0-9]{1,19}$/;

/**
 * Whether `value` is a well-formed relay nickname (dir-spec: 1 to 19 letters and digits).
 * @example isNickname('moria1') // true
 * @example isNickname('has space') // false
 */
export function isNickname(value: string): boolean {
  return NICKNAME_RE.test(value);
}
