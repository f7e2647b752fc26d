import { describe, expect, it } from 'vitest';
import { chartLocale } from './theme';

describe('chartLocale', () => {
  it('keeps a locale Intl accepts and replaces one it rejects', () => {
    expect(chartLocale('de-DE')).toBe('de-DE');
    expect(chartLocale('en-us')).toBe('en-US');
    expect(chartLocale('C')).toBe('en-US'); // WebKitGTK under LANG=C
    expect(chartLocale(undefined)).toBe('en-US');
    expect(() => new Intl.DateTimeFormat(chartLocale('C'))).not.toThrow();
  });
});
