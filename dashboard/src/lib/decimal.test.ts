import { describe, expect, it } from 'vitest';
import { compareDecimal, formatDecimal, formatMoney, formatPercent, isDecimal, multiplyDecimal, roundDecimal } from './decimal';

describe('decimal strings', () => {
  it('compares exactly, whatever the scale', () => {
    expect(compareDecimal('189.14', '189.140')).toBe(0);
    expect(compareDecimal('189.15', '189.149999')).toBe(1);
    expect(compareDecimal('-0.01', '0')).toBe(-1);
    expect(compareDecimal('0.1', '0.09')).toBe(1);
  });

  it('multiplies a price by a quantity without float error', () => {
    expect(multiplyDecimal('0.1', 3)).toBe('0.3');
    expect(multiplyDecimal('189.14', 10)).toBe('1891.40');
    expect(multiplyDecimal('123456.7891', 1000000)).toBe('123456789100.0000');
  });

  it('rounds half away from zero', () => {
    expect(roundDecimal('1.005', 2)).toBe('1.01');
    expect(roundDecimal('-1.005', 2)).toBe('-1.01');
    expect(roundDecimal('2.5', 0)).toBe('3');
    expect(roundDecimal('7', 2)).toBe('7.00');
  });

  it('formats money, signed changes and percentages', () => {
    expect(formatMoney('100000')).toBe('$100,000.00');
    expect(formatMoney('-1234.5')).toBe('−$1,234.50');
    expect(formatMoney('12.3', true)).toBe('+$12.30');
    expect(formatMoney('0.00', true)).toBe('$0.00');
    expect(formatPercent('-0.456')).toBe('−0.46%');
    expect(formatDecimal('1234567.891', { places: 2 })).toBe('1,234,567.89');
    expect(formatMoney(null)).toBe('—');
  });

  it('rejects what is not a decimal', () => {
    expect(isDecimal('12.')).toBe(true);
    expect(isDecimal('.5')).toBe(true);
    expect(isDecimal('abc')).toBe(false);
    expect(isDecimal('')).toBe(false);
    expect(isDecimal('1e5')).toBe(false);
    expect(formatMoney('NaN')).toBe('—');
  });
});
