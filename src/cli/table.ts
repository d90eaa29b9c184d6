// Tables as istioctl prints them (Go's text/tabwriter with minwidth 0, padding 5, padded with spaces):
// every column but the last is as wide as its widest cell plus five spaces.

const PADDING = 5;

export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)) + PADDING);
  return all
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('').trimEnd())
    .join('\n') + '\n';
}
