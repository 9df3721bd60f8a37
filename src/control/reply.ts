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
  /**
   * Status of the final line. The lines of a reply share it, except in a MAPADDRESS reply, which
   * has a line per mapping, each with its own status (control-spec 3.8).
   */
  status: number;
  lines: ReplyLine[];
}

/** True for 2xx replies: every line 2xx (see `status` for replies that mix them). */
export function isSuccess(reply: ControlReply): boolean {
  return failedLine(reply) === undefined;
}

/** The first line whose status is not 2xx, if any. */
export function failedLine(reply: ControlReply): ReplyLine | undefined {
  for (const line of reply.lines) if (line.status < 200 || line.status >= 300) return line;
  return undefined;
}
