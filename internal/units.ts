/**
 * Reading durations (`30d`, `12h`, `10s`, `250ms`) and sizes (`64MiB`,
 * `1k`) from flags.
 *
 * @module
 */

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/**
 * Parses a duration: a number and a unit of `ms`, `s`, `m`, `h`, `d` or `w`.
 *
 * @param text Such as `30d` or `1.5s`.
 * @returns Milliseconds.
 * @throws {RangeError} When the text is not a duration.
 */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (match === null) {
    throw new RangeError(
      `Cannot read the duration "${text}": use a number and ms, s, m, h, d or w, such as 30d`,
    );
  }
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2]]);
}

/**
 * Parses a size in bytes, with an optional binary unit (`k`, `MiB`, `g`).
 *
 * @param text Such as `65536` or `8MiB`.
 * @returns Bytes.
 * @throws {RangeError} When the text is not a size.
 */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = match?.[2].toLowerCase();
  if (match === null || !(unit! in SIZE_UNITS)) {
    throw new RangeError(
      `Cannot read the size "${text}": use a number of bytes, or k, MiB or GiB`,
    );
  }
  return Math.floor(Number(match[1]) * SIZE_UNITS[unit!]);
}
