// How a header preview route's match reads in words (status messages, Events, `fledge status`).
import type { HeaderMatch } from "./types.js";

export function describeHeaderMatch(match: readonly HeaderMatch[]): string {
  return match.map((m) => `${m.header}${m.type === "RegularExpression" ? " ~ " : ": "}${m.value}`).join(", ");
}
