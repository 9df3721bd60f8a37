/**
 * What the control-protocol parser produces. One `ControlReply` is one complete reply (or one
 * asynchronous event, status 6xx) as control-spec section 2.3 defines it: a run of `NNN-` and
 * `NNN+` lines closed by one `NNN ` line.
 */

/** One reply line. For `+` lines, `data` holds the data block, dot-unstuffed, lines joined by "\n". */
export interface ReplyLine {
  /** Three-digit status, e.g. 250. */
  status: number;
  /** `-` (more lines follow), `+` (a data block follows), or ` ` (last line). */
  separator: '-' | '+' | ' ';
  /** The text after the separator, without the trailing CRLF. */
  text: string;
  /** The data block of a `+` line, without the terminating "." line. */
  data?: string;
}

/** One complete reply or asynchronous event. */
export interface ControlReply {
  /** Status of the final line (all lines of a well-formed reply share it). */
  status: number;
  lines: ReplyLine[];
}

/** True for 2xx replies. */
export function isSuccess(reply: ControlReply): boolean {
  return reply.status >= 200 && reply.status < 300;
}

/** True for asynchronous events (6xx). */
export function isEvent(reply: ControlReply): boolean {
  return reply.status >= 600 && reply.status < 700;
}
