// istio-proxy's stats filter (istio.stats) reads its config as `stats.PluginConfig` (istio/api
// envoy/extensions/stats/config.proto) from proto-JSON: a TypedStruct's Struct is converted to JSON and
// parsed into that message, so an unknown field, a wrong type or a malformed Duration makes the proxy
// reject the listener. No Envoy proto knows the message; its fields are listed here from the proto.

type Kind = 'bool' | 'int' | 'string' | 'duration' | 'strings' | 'stringMap' | 'reporter' | { list: Record<string, Kind> };

const METRIC_CONFIG: Record<string, Kind> = { dimensions: 'stringMap', name: 'string', tags_to_remove: 'strings', match: 'string', drop: 'bool' };
const METRIC_DEFINITION: Record<string, Kind> = { name: 'string', value: 'string', type: 'string' };
const PLUGIN_CONFIG: Record<string, Kind> = {
  debug: 'bool',
  max_peer_cache_size: 'int',
  stat_prefix: 'string',
  field_separator: 'string',
  value_separator: 'string',
  disable_host_header_fallback: 'bool',
  tcp_reporting_duration: 'duration',
  metrics: { list: METRIC_CONFIG },
  definitions: { list: METRIC_DEFINITION },
  reporter: 'reporter',
  rotation_interval: 'duration',
  graceful_deletion_interval: 'duration',
};

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function check(value: unknown, fields: Record<string, Kind>, at: string, out: string[]): void {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    out.push(`${at}: not an object`);
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    const kind = fields[key] ?? fields[snake(key)];
    const p = `${at}.${key}`;
    if (!kind) {
      out.push(`${p}: stats.PluginConfig has no such field`);
      continue;
    }
    if (typeof kind === 'object') {
      if (!Array.isArray(v)) out.push(`${p}: not a list`);
      else v.forEach((item, i) => check(item, kind.list, `${p}[${i}]`, out));
      continue;
    }
    const ok = {
      bool: () => typeof v === 'boolean',
      int: () => Number.isInteger(v),
      string: () => typeof v === 'string',
      duration: () => typeof v === 'string' && /^-?\d+(\.\d{1,9})?s$/.test(v),
      strings: () => Array.isArray(v) && v.every((s) => typeof s === 'string'),
      stringMap: () => !!v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((s) => typeof s === 'string'),
      reporter: () => v === 'UNSPECIFIED' || v === 'SERVER_GATEWAY' || v === 0 || v === 1,
    }[kind]();
    if (!ok) out.push(`${p}: not a valid ${kind}: ${JSON.stringify(v)}`);
  }
}

/** Why istio-proxy would refuse this stats.PluginConfig (empty: it parses). */
export function statsPluginConfigProblems(config: unknown): string[] {
  const out: string[] = [];
  check(config, PLUGIN_CONFIG, 'stats.PluginConfig', out);
  return out;
}
