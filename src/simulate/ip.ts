import { isIPv4, isIPv6 } from 'node:net';

// CIDR containment for Envoy's prefix_ranges / source_prefix_ranges (config.core.v3.CidrRange) lookups.

interface ParsedIp {
  readonly family: 4 | 6;
  readonly value: bigint;
}

function parseIPv4(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function parseIPv6(ip: string): bigint {
  let text = ip;
  // An embedded IPv4 tail (::ffff:10.0.0.1) is written as its two 16-bit groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = parseIPv4(v4[1]!);
    text = `${text.slice(0, -v4[1]!.length)}${((n >> 16n) & 0xffffn).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const groupsOf = (s: string) => (s === '' ? [] : s.split(':').map((g) => BigInt(parseInt(g, 16))));
  const double = text.indexOf('::');
  const groups = double < 0
    ? groupsOf(text)
    : (() => {
        const h = groupsOf(text.slice(0, double));
        const r = groupsOf(text.slice(double + 2));
        return [...h, ...Array<bigint>(8 - h.length - r.length).fill(0n), ...r];
      })();
  return groups.reduce((acc, g) => (acc << 16n) | g, 0n);
}

export function parseIp(ip: string): ParsedIp | undefined {
  const bare = ip.replace(/^\[|\]$/g, '');
  if (isIPv4(bare)) return { family: 4, value: parseIPv4(bare) };
  if (isIPv6(bare)) return { family: 6, value: parseIPv6(bare) };
  return undefined;
}

/** True when `ip` lies in `prefix/len` (same family only, as Envoy's LC trie). */
export function cidrContains(prefix: string, len: number, ip: string): boolean {
  const p = parseIp(prefix);
  const a = parseIp(ip);
  if (!p || !a || p.family !== a.family) return false;
  const bits = p.family === 4 ? 32 : 128;
  const l = Math.min(Math.max(len, 0), bits);
  const shift = BigInt(bits - l);
  return p.value >> shift === a.value >> shift;
}

export function isLoopback(ip: string): boolean {
  const a = parseIp(ip);
  if (!a) return false;
  return a.family === 4 ? a.value >> 24n === 127n : a.value === 1n;
}

/** Envoy compares addresses by value (10.0.0.1 and ::ffff:10.0.0.1 differ, as in Envoy). */
export function sameIp(a: string, b: string): boolean {
  const x = parseIp(a);
  const y = parseIp(b);
  return !!x && !!y && x.family === y.family && x.value === y.value;
}

export function isAnyAddress(ip: string): boolean {
  const a = parseIp(ip);
  return !!a && a.value === 0n;
}
