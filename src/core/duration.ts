// Human-friendly durations for config and CLI flags: '150ms', '5s', '5m', '2h', '1d'. A number without
// a unit is refused (other than 0): '40' read as milliseconds timed out every attempt of a server whose
// operator meant seconds.

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;

/** Parses one duration into milliseconds (rounded). Throws on anything else. */
export function parseDuration(text: string): number {
  const match = PATTERN.exec(text.trim());
  if (!match) throw new Error(`invalid duration '${text}' (expected e.g. 150ms, 5s, 5m, 2h, 1d)`);
  const value = Number(match[1]);
  if (match[2] === undefined && value !== 0)
    throw new Error(`duration '${text}' needs a unit: ms, s, m, h or d (e.g. ${match[1]}s)`);
  const unit = (match[2] ?? 'ms') as Unit;
  const ms = Math.round(value * UNIT_MS[unit]);
  if (!Number.isSafeInteger(ms)) throw new Error(`duration '${text}' is out of range`);
  return ms;
}

/** Parses a comma-separated retry schedule such as '0,5s,5m'. Throws on an empty list or bad entry. */
export function parseSchedule(text: string): number[] {
  const parts = text.split(',').map((part) => part.trim());
  if (parts.length === 0 || parts.some((part) => part === '')) {
    throw new Error(`invalid schedule '${text}' (expected comma-separated durations, e.g. 0,5s,5m)`);
  }
  return parts.map(parseDuration);
}

/** Formats milliseconds compactly ('5m', '1500ms'), the inverse of parseDuration for whole units. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit];
    if (ms !== 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
