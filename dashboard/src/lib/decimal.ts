/**
 * Decimal strings ("189.14", "-0.5") handled exactly, without floats: the wire sends money as
 * strings so no rounding error ever reaches a balance, and the dashboard keeps it that way.
 * A value is held as a scaled BigInt: "189.14" -> { units: 18914n, scale: 2 }.
 */

interface Scaled {
  units: bigint;
  scale: number;
}

const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?$/;

export function isDecimal(text: string): boolean {
  const m = DECIMAL_RE.exec(text.trim());
  return m !== null && ((m[2] ?? '') + (m[3] ?? '')).length > 0;
}

function parse(text: string): Scaled {
  const m = DECIMAL_RE.exec(text.trim());
  if (!m || !isDecimal(text)) throw new RangeError(`not a decimal: ${JSON.stringify(text)}`);
  const [, sign = '', whole = '', frac = ''] = m;
  const units = BigInt((whole || '0') + frac);
  return { units: sign === '-' ? -units : units, scale: frac.length };
}

function rescale(value: Scaled, scale: number): bigint {
  return value.units * 10n ** BigInt(scale - value.scale);
}

/** -1, 0 or 1 as `a` is below, equal to or above `b`. */
export function compareDecimal(a: string, b: string): -1 | 0 | 1 {
  const x = parse(a);
  const y = parse(b);
  const scale = Math.max(x.scale, y.scale);
  const d = rescale(x, scale) - rescale(y, scale);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

export function signOf(text: string): -1 | 0 | 1 {
  return compareDecimal(text, '0');
}

/** Exact product of a decimal string and an integer quantity. */
export function multiplyDecimal(price: string, quantity: number): string {
  const p = parse(price);
  return toText({ units: p.units * BigInt(quantity), scale: p.scale });
}

function toText(value: Scaled): string {
  const negative = value.units < 0n;
  const digits = (negative ? -value.units : value.units).toString().padStart(value.scale + 1, '0');
  const whole = digits.slice(0, digits.length - value.scale);
  const frac = digits.slice(digits.length - value.scale);
  return `${negative ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

/** Rounds half away from zero to `places` decimals. */
export function roundDecimal(text: string, places: number): string {
  const v = parse(text);
  if (v.scale <= places) return toText({ units: rescale(v, places), scale: places });
  const factor = 10n ** BigInt(v.scale - places);
  const abs = v.units < 0n ? -v.units : v.units;
  let q = abs / factor;
  if ((abs % factor) * 2n >= factor) q += 1n;
  return toText({ units: v.units < 0n ? -q : q, scale: places });
}

function group(whole: string): string {
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export interface FormatOptions {
  places?: number;
  /** Prefix such as "$". */
  prefix?: string;
  /** Always show the sign ("+1.20"); for changes and P&L. */
  signed?: boolean;
  suffix?: string;
}

/** "12345.678" -> "12,345.68"; `null`/`undefined` -> an em dash. */
export function formatDecimal(text: string | null | undefined, options: FormatOptions = {}): string {
  if (text === null || text === undefined || !isDecimal(text)) return '—';
  const { places = 2, prefix = '', signed = false, suffix = '' } = options;
  const rounded = roundDecimal(text, places);
  const negative = rounded.startsWith('-');
  const body = negative ? rounded.slice(1) : rounded;
  const [whole = '0', frac] = body.split('.');
  const isZero = /^[0.]*$/.test(body);
  const sign = negative && !isZero ? '−' : signed && !isZero ? '+' : '';
  return `${sign}${prefix}${group(whole)}${frac ? `.${frac}` : ''}${suffix}`;
}

export function formatMoney(text: string | null | undefined, signed = false): string {
  return formatDecimal(text, { prefix: '$', signed });
}

export function formatPrice(text: string | null | undefined): string {
  return formatDecimal(text, { places: 2 });
}

export function formatPercent(text: string | null | undefined): string {
  return formatDecimal(text, { places: 2, signed: true, suffix: '%' });
}
