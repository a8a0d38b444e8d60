// A strict parser for HTTP-date (RFC 9110 §5.6.7). A recipient MUST accept all three forms:
//   IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT
//   rfc850-date  Sunday, 06-Nov-94 08:49:37 GMT   (obsolete)
//   asctime      Sun Nov  6 08:49:37 1994         (obsolete)
// Only the grammar is accepted, case-sensitively as the ABNF has it: no other zone, no missing field,
// no day beyond the month's end. The weekday must be a weekday name but is not cross-checked: it is
// redundant with the date.

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SHORT_DAYS = 'Mon|Tue|Wed|Thu|Fri|Sat|Sun';
const LONG_DAYS = 'Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday';
const MONTH = `(?<month>${MONTHS.join('|')})`;
const TIME = '(?<hour>\\d{2}):(?<minute>\\d{2}):(?<second>\\d{2})';

const IMF_FIXDATE = new RegExp(`^(?:${SHORT_DAYS}), (?<day>\\d{2}) ${MONTH} (?<year>\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^(?:${LONG_DAYS}), (?<day>\\d{2})-${MONTH}-(?<yy>\\d{2}) ${TIME} GMT$`);
// date3 = month SP ( 2DIGIT / ( SP DIGIT ) )
const ASCTIME_DATE = new RegExp(`^(?:${SHORT_DAYS}) ${MONTH} (?<day>\\d{2}| \\d) ${TIME} (?<year>\\d{4})$`);

type Fields = Record<'month' | 'day' | 'hour' | 'minute' | 'second', string>;

/** Milliseconds since the epoch for an HTTP-date, or undefined when `value` is not one. */
export function parseHttpDate(value: string, now: number): number | undefined {
  const full = (IMF_FIXDATE.exec(value) ?? ASCTIME_DATE.exec(value))?.groups as
    | (Fields & { year: string })
    | undefined;
  if (full) return toTime(full, Number(full.year));
  const rfc850 = RFC850_DATE.exec(value)?.groups as (Fields & { yy: string }) | undefined;
  if (!rfc850) return undefined;
  return twoDigitYear(Number(rfc850.yy), now, (year) => toTime(rfc850, year));
}

/**
 * RFC 9110 §5.6.7: a two-digit year that would put the timestamp more than 50 years in the future
 * means the most recent past year with the same last two digits. So the latest year ending in `yy`
 * whose timestamp is at most 50 years after `now`.
 */
function twoDigitYear(yy: number, now: number, at: (year: number) => number | undefined): number | undefined {
  const limit = new Date(now);
  limit.setUTCFullYear(limit.getUTCFullYear() + 50);
  const century = limit.getUTCFullYear() - (limit.getUTCFullYear() % 100);
  for (const year of [century + yy, century - 100 + yy, century - 200 + yy]) {
    const time = at(year);
    if (time !== undefined && time <= limit.getTime()) return time;
  }
  return undefined;
}

function toTime(f: Fields, year: number): number | undefined {
  const month = MONTHS.indexOf(f.month);
  const day = Number(f.day);
  const hour = Number(f.hour);
  const minute = Number(f.minute);
  const second = Number(f.second);
  // second = 2DIGIT allows 60 for a leap second (as RFC 5322 does); it is carried into the next minute.
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  // setUTCFullYear, unlike Date.UTC, does not map years 0–99 to 1900–1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  // A day of 00 or past the month's end would roll over into a neighbouring month.
  if (date.getUTCMonth() !== month || date.getUTCDate() !== day) return undefined;
  date.setUTCHours(hour, minute, second);
  return date.getTime();
}
