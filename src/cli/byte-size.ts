// `1572864`, `1.5Mi`, `512Ki`, `16Mi`, `1Gi` (Kubernetes quantity suffixes, powers of two) — for size flags.
const UNIT: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

export function parseByteSize(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi)?$/.exec(text.trim());
  const bytes = m ? Math.floor(Number(m[1]) * UNIT[m[2] ?? '']!) : NaN;
  if (!Number.isFinite(bytes) || bytes < 1) throw new Error(`${flag}: ${JSON.stringify(text)} is not a size (e.g. 1572864, 512Ki, 1.5Mi)`);
  return bytes;
}
