import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { PROTO_INCLUDE_DIRS } from '../../src/envoy/protos.js';
import { checkEnvoyResource, isHostname, pgvViolations, re2ToRegExp } from '../support/envoy-check/pgv-check.js';
import { TYPE } from '../../src/xds/resource-types.js';

// The PGV checker must find what Envoy's validation rejects. Each rule family is shown on a real Envoy
// field where Envoy's protos use it, and on a synthetic message (test-only proto importing PGV's own
// validate.proto) for the rules Envoy's loaded protos never use, e.g. string.pattern or bytes.prefix.

const only = (out: string[], re: RegExp) => out.filter((s) => re.test(s));

const SYNTHETIC = `
syntax = "proto3";
package pgvtest;
import "validate/validate.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/any.proto";
enum Color { RED = 0; GREEN = 1; BLUE = 2; }
message Inner { string id = 1 [(validate.rules).string.min_len = 2]; }
message All {
  string s_const = 1 [(validate.rules).string.const = "x"];
  string s_len = 2 [(validate.rules).string = {min_len: 2, max_len: 3, ignore_empty: true}];
  string s_bytes = 3 [(validate.rules).string = {min_bytes: 2, max_bytes: 3, ignore_empty: true}];
  string s_affix = 4 [(validate.rules).string = {prefix: "pre", suffix: "suf", contains: "mid", ignore_empty: true}];
  string s_in = 5 [(validate.rules).string = {in: "a", in: "b", ignore_empty: true}];
  string s_not_in = 6 [(validate.rules).string = {not_in: "bad"}];
  string s_pattern = 7 [(validate.rules).string = {pattern: "(?i)^[a-z]+\\\\.mmdb\\\\z", ignore_empty: true}];
  string s_hostname = 8 [(validate.rules).string = {hostname: true, ignore_empty: true}];
  string s_ip = 9 [(validate.rules).string = {ip: true, ignore_empty: true}];
  string s_address = 10 [(validate.rules).string = {address: true, ignore_empty: true}];
  string s_header_name = 11 [(validate.rules).string = {well_known_regex: HTTP_HEADER_NAME}];
  string s_header_value = 12 [(validate.rules).string = {well_known_regex: HTTP_HEADER_VALUE}];
  string s_uuid = 13 [(validate.rules).string = {uuid: true, ignore_empty: true}];
  bytes b_len = 20 [(validate.rules).bytes = {min_len: 1, max_len: 2}];
  bytes b_prefix = 21 [(validate.rules).bytes = {prefix: "ab", ignore_empty: true}];
  bytes b_ip = 22 [(validate.rules).bytes = {ip: true, ignore_empty: true}];
  int32 i32 = 30 [(validate.rules).int32 = {gte: -5, lt: 5}];
  int64 i64 = 31 [(validate.rules).int64 = {gt: 10, lt: 5}];
  uint64 u64 = 32 [(validate.rules).uint64 = {lte: 4294967296}];
  sint32 si32 = 33 [(validate.rules).sint32 = {in: 1, in: 2}];
  fixed64 f64 = 34 [(validate.rules).fixed64 = {not_in: 7}];
  double dbl = 35 [(validate.rules).double = {gt: 0.5, lte: 1.0}];
  float flt = 36 [(validate.rules).float = {const: 2.5}];
  float tenth = 44 [(validate.rules).float = {lte: 0.1}];
  sfixed32 sf32 = 37 [(validate.rules).sfixed32 = {gt: 0}];
  google.protobuf.UInt32Value wrapped = 38 [(validate.rules).uint32 = {gte: 1, lte: 100}];
  google.protobuf.DoubleValue wrapped_double = 39 [(validate.rules).double = {lt: 1}];
  bool flag = 40 [(validate.rules).bool.const = true];
  Color color = 41 [(validate.rules).enum.defined_only = true];
  Color color_in = 42 [(validate.rules).enum = {in: 1, in: 2}];
  Color color_not_in = 43 [(validate.rules).enum = {not_in: 2}];
  repeated string names = 50 [(validate.rules).repeated = {min_items: 1, max_items: 3, unique: true, items: {string: {min_len: 1}}}];
  repeated Inner inners = 51;
  map<string, Inner> by_key = 52 [(validate.rules).map = {min_pairs: 1, keys: {string: {min_len: 2}}, values: {message: {required: true}}}];
  map<string, string> labels = 53 [(validate.rules).map = {max_pairs: 1, values: {string: {max_len: 3}}}];
  Inner inner_required = 60 [(validate.rules).message.required = true];
  Inner inner_skipped = 61 [(validate.rules).message.skip = true];
  oneof choice {
    option (validate.required) = true;
    string pick_a = 70;
    Inner pick_b = 71 [(validate.rules).message.required = true];
  }
  google.protobuf.Duration d_required = 80 [(validate.rules).duration = {required: true, gt: {}}];
  google.protobuf.Duration d_range = 81 [(validate.rules).duration = {gte: {seconds: 1}, lt: {seconds: 10}}];
  google.protobuf.Duration d_in = 82 [(validate.rules).duration = {in: {seconds: 1}, in: {seconds: 2}}];
  google.protobuf.Timestamp ts = 90 [(validate.rules).timestamp = {lt_now: true, gt: {seconds: 1000}}];
  google.protobuf.Any any = 100 [(validate.rules).any = {required: true, in: "type.googleapis.com/pgvtest.Inner"}];
  google.protobuf.Any any_not = 101 [(validate.rules).any = {not_in: "type.googleapis.com/pgvtest.All"}];
}
message Disabled { option (validate.disabled) = true; string must = 1 [(validate.rules).string.min_len = 1]; }
`;

function syntheticRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_o, target) => {
    for (const dir of PROTO_INCLUDE_DIRS) {
      const c = path.join(dir, target);
      if (fs.existsSync(c)) return c;
    }
    return target;
  };
  root.loadSync(['validate/validate.proto', 'google/protobuf/duration.proto', 'google/protobuf/timestamp.proto', 'google/protobuf/wrappers.proto', 'google/protobuf/any.proto'], { keepCase: true });
  protobuf.parse(SYNTHETIC, root, { keepCase: true });
  root.resolveAll();
  return root;
}

const root = syntheticRoot();
/** A message satisfying every rule of pgvtest.All; each test breaks one family. */
const VALID = {
  s_const: 'x', s_not_in: 'ok', s_header_name: 'x-ok', s_header_value: 'fine value',
  b_len: Buffer.from('a').toString('base64'), tenth: 0, i32: -5, i64: 11, u64: '4294967296', si32: 2, f64: 8, dbl: 1, flt: 2.5, sf32: 1,
  flag: true, color: 'GREEN', color_in: 'BLUE', color_not_in: 'GREEN',
  names: ['a'], by_key: { ab: { id: 'xx' } }, inner_required: { id: 'ok' }, pick_a: 'a',
  d_required: { nanos: 1 }, ts: { seconds: 2000 },
  any: { '@type': 'type.googleapis.com/pgvtest.Inner', id: 'ok' },
};
const check = (patch: Record<string, unknown>) => pgvViolations('pgvtest.All', { ...VALID, ...patch }, root);

describe('PGV checker: each rule family on hand-made violations', () => {
  it('accepts a message that satisfies every rule', () => {
    assert.deepEqual(check({}), []);
  });

  it('message: required, skip, recursion into nested messages and repeated messages', () => {
    const { inner_required: _drop, ...rest } = VALID;
    assert.deepEqual(pgvViolations('pgvtest.All', rest, root), ['All.inner_required: message.required: value is required']);
    assert.deepEqual(check({ inner_skipped: { id: '' } }), []);
    assert.deepEqual(check({ inner_required: { id: 'x' }, inners: [{ id: 'ok' }, { id: '' }] }), [
      'All.inners[1].id: string.min_len: "" has 0 characters, must have at least 2',
      'All.inner_required.id: string.min_len: "x" has 1 characters, must have at least 2',
    ]);
  });

  it('string: const, lengths (characters vs bytes), prefix/suffix/contains, in/not_in', () => {
    assert.deepEqual(check({ s_const: 'y' }), ['All.s_const: string.const: "y" must equal "x"']);
    assert.deepEqual(check({ s_len: 'é' }), ['All.s_len: string.min_len: "é" has 1 characters, must have at least 2']);
    assert.deepEqual(check({ s_len: 'éé' }), [], 'two characters, four bytes: min_len counts characters');
    assert.deepEqual(check({ s_bytes: 'éé' }), ['All.s_bytes: string.max_bytes: "éé" is 4 bytes, must be at most 3']);
    assert.deepEqual(check({ s_affix: 'premidsuf' }), []);
    assert.deepEqual(check({ s_affix: 'xsuf' }).map((s) => s.split(':')[1]!.trim()), ['string.prefix', 'string.contains']);
    assert.deepEqual(check({ s_in: 'c' }), ['All.s_in: string.in: "c" is not one of ["a","b"]']);
    assert.deepEqual(check({ s_not_in: 'bad' }), ['All.s_not_in: string.not_in: "bad" is one of ["bad"]']);
  });

  it('string: pattern with RE2 syntax (inline flags, \\z)', () => {
    assert.deepEqual(check({ s_pattern: 'CITY.mmdb' }), []);
    assert.match(check({ s_pattern: 'city.mmdb\n' })[0]!, /All\.s_pattern: string\.pattern: .* does not match/);
    assert.equal(re2ToRegExp('(?P<host>[a-z]+)\\z').exec('abc')?.groups?.host, 'abc');
    assert.equal(re2ToRegExp('^[[:digit:]]+$').test('123'), true);
  });

  it('string: well-known hostname, ip, address, uuid, strict header name/value', () => {
    assert.deepEqual(only(check({ s_hostname: '-bad.example' }), /hostname/), ['All.s_hostname: string.hostname: "-bad.example" is not a hostname']);
    assert.deepEqual(check({ s_hostname: 'reviews.default.svc.cluster.local.' }), []);
    assert.equal(isHostname('a'.repeat(64)), false);
    assert.deepEqual(only(check({ s_ip: '10.0.0.256' }), /ip/), ['All.s_ip: string.ip: "10.0.0.256" is not an IP address']);
    assert.deepEqual(check({ s_ip: '::1', s_address: '10.0.0.1' }), []);
    assert.deepEqual(check({ s_address: 'under_score' }), ['All.s_address: string.address: "under_score" is neither an IP address nor a hostname']);
    assert.equal(check({ s_uuid: 'not-a-uuid' }).length, 1);
    assert.deepEqual(check({ s_header_name: 'bad name' }), ['All.s_header_name: string.well_known_regex(HTTP_HEADER_NAME): "bad name" is not a valid header name']);
    assert.deepEqual(check({ s_header_name: ':authority' }), []);
    assert.deepEqual(check({ s_header_value: 'a\u0001b' }).length, 1);
  });

  it('bytes: lengths, prefix, ip', () => {
    const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');
    assert.deepEqual(check({ b_len: '' }), ['All.b_len: bytes.min_len: 0 bytes, must be at least 1']);
    assert.deepEqual(check({ b_len: b64('abc') }), ['All.b_len: bytes.max_len: 3 bytes, must be at most 2']);
    assert.deepEqual(check({ b_prefix: b64('xab') }), ['All.b_prefix: bytes.prefix: 0x786162 does not start with 0x6162']);
    assert.deepEqual(check({ b_ip: b64('\x0a\x00\x00') }), ['All.b_ip: bytes.ip: 3 bytes is not an IP address (4 or 16)']);
  });

  it('numbers: gt/gte/lt/lte, exclusive ranges, const, in/not_in for every numeric kind, 64-bit exactness', () => {
    assert.deepEqual(check({ i32: 5 }), ['All.i32: int32.gte/lt: 5 must be >= -5 and < 5']);
    assert.deepEqual(check({ i32: -6 }), ['All.i32: int32.gte/lt: -6 must be >= -5 and < 5']);
    assert.deepEqual(check({ i64: 7 }), ['All.i64: int64.gt/lt: 7 must be < 5 or > 10'], 'lt < gt means outside the range');
    assert.deepEqual(check({ i64: 4 }), []);
    // A uint64 beyond 2^53 is compared exactly (protobufjs' parser reads rule literals as JS numbers, so
    // the rule side is exact only up to 2^53; Envoy's bounds are all far below that).
    assert.deepEqual(check({ u64: '18446744073709551615' }), ['All.u64: uint64.lte: 18446744073709551615 must be <= 4294967296']);
    assert.deepEqual(check({ u64: '4294967297' }), ['All.u64: uint64.lte: 4294967297 must be <= 4294967296']);
    assert.deepEqual(check({ si32: 3 }), ['All.si32: sint32.in: 3 is not one of [1, 2]']);
    assert.deepEqual(check({ f64: 7 }), ['All.f64: fixed64.not_in: 7 is one of [7]']);
    assert.deepEqual(check({ dbl: 0.5 }), ['All.dbl: double.gt/lte: 0.5 must be > 0.5 and <= 1']);
    assert.deepEqual(check({ flt: 2 }), ['All.flt: float.const: 2 must equal 2.5']);
    assert.deepEqual(check({ tenth: 0.1 }), [], 'a float holding 0.1f satisfies lte 0.1 at float precision (as a double it is 0.100000001)');
    assert.deepEqual(check({ sf32: 0 }), ['All.sf32: sfixed32.gt: 0 must be > 0'], 'an unset proto3 scalar is validated as zero');
  });

  it('wrapper types: rules apply to the wrapped value only when the wrapper is set', () => {
    assert.deepEqual(check({ wrapped: { value: 0 } }), ['All.wrapped: uint32.gte/lte: 0 must be >= 1 and <= 100']);
    assert.deepEqual(check({ wrapped: {} }), ['All.wrapped: uint32.gte/lte: 0 must be >= 1 and <= 100'], 'a set wrapper holding the default');
    assert.deepEqual(check({ wrapped: { value: 101 } }).length, 1);
    assert.deepEqual(check({ wrapped_double: { value: 1 } }), ['All.wrapped_double: double.lt: 1 must be < 1']);
  });

  it('bool const and enum defined_only/in/not_in', () => {
    assert.deepEqual(check({ flag: false }), ['All.flag: bool.const: false must be true']);
    assert.deepEqual(check({ color: 7 }), ['All.color: enum.defined_only: 7 is not a value of pgvtest.Color']);
    assert.deepEqual(check({ color_in: 'RED' }), ['All.color_in: enum.in: RED (0) is not one of [1, 2]']);
    assert.deepEqual(check({ color_not_in: 'BLUE' }), ['All.color_not_in: enum.not_in: BLUE (2) is forbidden']);
  });

  it('repeated: min_items, max_items, unique, item rules', () => {
    assert.deepEqual(check({ names: [] }), ['All.names: repeated.min_items: 0 items, at least 1 required']);
    assert.deepEqual(check({ names: ['a', 'b', 'c', 'd'] }), ['All.names: repeated.max_items: 4 items, at most 3 allowed']);
    assert.deepEqual(check({ names: ['a', 'b', 'a'] }), ['All.names[2]: repeated.unique: repeats item [0]']);
    assert.deepEqual(check({ names: ['a', ''] }), ['All.names[1]: string.min_len: "" has 0 characters, must have at least 1']);
  });

  it('map: min_pairs/max_pairs, key rules, value rules (message and scalar)', () => {
    assert.deepEqual(check({ by_key: {} }), ['All.by_key: map.min_pairs: 0 pairs, at least 1 required']);
    assert.deepEqual(check({ by_key: { a: { id: 'xx' } } }), ['All.by_key["a"](key): string.min_len: "a" has 1 characters, must have at least 2']);
    assert.deepEqual(check({ by_key: { ab: { id: 'x' } } }), ['All.by_key["ab"].id: string.min_len: "x" has 1 characters, must have at least 2']);
    assert.deepEqual(check({ labels: { a: 'x', b: 'toolong' } }), [
      'All.labels: map.max_pairs: 2 pairs, at most 1 allowed',
      'All.labels["b"]: string.max_len: "toolong" has 7 characters, must have at most 3',
    ]);
  });

  it('oneof (validate.required), and rules of the oneof member that is set', () => {
    const { pick_a: _drop, ...rest } = VALID;
    assert.deepEqual(pgvViolations('pgvtest.All', rest, root), ['All: oneof.required: exactly one of pick_a, pick_b (choice) must be set']);
    assert.deepEqual(pgvViolations('pgvtest.All', { ...rest, pick_b: { id: 'x' } }, root), ['All.pick_b.id: string.min_len: "x" has 1 characters, must have at least 2']);
  });

  it('duration: required, gt {} (> 0), gte/lt, in', () => {
    const { d_required: _drop, ...rest } = VALID;
    assert.deepEqual(pgvViolations('pgvtest.All', rest, root), ['All.d_required: duration.required: value is required']);
    assert.deepEqual(check({ d_required: {} }), ['All.d_required: duration.gt: 0s must be > 0s']);
    assert.deepEqual(check({ d_range: { nanos: 999_999_999 } }), ['All.d_range: duration.gte/lt: 0.999999999s must be >= 1s and < 10s']);
    assert.deepEqual(check({ d_range: { seconds: 10 } }).length, 1);
    assert.deepEqual(check({ d_in: { seconds: 3 } }), ['All.d_in: duration.in: 3s is not one of [1s, 2s]']);
  });

  it('timestamp: gt and lt_now', () => {
    assert.deepEqual(check({ ts: { seconds: 10 } }), ['All.ts: timestamp.gt: 1970-01-01T00:00:10.000Z must be > 1970-01-01T00:16:40.000Z']);
    assert.equal(only(check({ ts: { seconds: Math.floor(Date.now() / 1000) + 3600 } }), /lt_now/).length, 1);
  });

  it('any: required, in, not_in, and the rules of the packed message', () => {
    const { any: _drop, ...rest } = VALID;
    assert.deepEqual(pgvViolations('pgvtest.All', rest, root), ['All.any: any.required: value is required']);
    assert.deepEqual(check({ any: { '@type': 'type.googleapis.com/pgvtest.Inner', id: 'x' } }), ['All.any.id: string.min_len: "x" has 1 characters, must have at least 2']);
    assert.match(check({ any: { '@type': 'type.googleapis.com/pgvtest.Disabled' } })[0]!, /any\.in: .* is not one of/);
    assert.match(check({ any_not: { '@type': 'type.googleapis.com/pgvtest.All', ...VALID } })[0]!, /All\.any_not: any\.not_in/);
  });

  it('message option (validate.disabled) turns a message\'s rules off', () => {
    assert.deepEqual(pgvViolations('pgvtest.Disabled', {}, root), []);
  });
});

describe('PGV checker on Envoy resources', () => {
  it('finds what Envoy would NACK in a Cluster: empty name, zero connect_timeout, required health-check fields, header name', () => {
    const problems = checkEnvoyResource(TYPE.CDS, {
      name: '',
      type: 'EDS',
      connect_timeout: { seconds: 0 },
      health_checks: [{ interval: { seconds: 5 }, http_health_check: { path: '/healthz', request_headers_to_add: [{ header: { key: '', value: 'v' } }] } }],
      lb_policy: 'ROUND_ROBIN',
    });
    assert.deepEqual(problems, [
      'Cluster.name: string.min_len: "" has 0 characters, must have at least 1',
      'Cluster.connect_timeout: duration.gt: 0s must be > 0s',
      'Cluster.health_checks[0].timeout: duration.required: value is required',
      'Cluster.health_checks[0].unhealthy_threshold: message.required: value is required',
      'Cluster.health_checks[0].healthy_threshold: message.required: value is required',
      'Cluster.health_checks[0].http_health_check.request_headers_to_add[0].header.key: string.min_len: "" has 0 characters, must have at least 1',
    ]);
  });

  it('recurses into typed_config Anys: an HCM inside a Listener, a route inside its inline RouteConfiguration', () => {
    const listener = {
      name: 'l',
      address: { socket_address: { address: '0.0.0.0', port_value: 80 } },
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        stat_prefix: '',
        route_config: { name: 'r', virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }, { match: {}, route: { cluster: 'c' } }] }] },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
      } }] }],
    };
    assert.deepEqual(checkEnvoyResource(TYPE.LDS, listener), [
      'Listener.filter_chains[0].filters[0].typed_config.stat_prefix: string.min_len: "" has 0 characters, must have at least 1',
      'Listener.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[1].match: oneof.required: exactly one of prefix, path, safe_regex, connect_matcher, path_separated_prefix, path_match_policy (path_specifier) must be set',
    ]);
    const fixed = structuredClone(listener);
    const hcm = fixed.filter_chains[0]!.filters[0]!.typed_config;
    hcm.stat_prefix = 'inbound_0.0.0.0_80';
    hcm.route_config.virtual_hosts[0]!.routes.pop();
    assert.deepEqual(checkEnvoyResource(TYPE.LDS, fixed), []);
  });

  it('reports an Any of a type it cannot load instead of passing it silently (protobufjs drops it on encode)', () => {
    const problems = checkEnvoyResource(TYPE.LDS, {
      name: 'l', address: { socket_address: { address: '0.0.0.0', port_value: 80 } },
      filter_chains: [{ filters: [{ name: 'x', typed_config: { '@type': 'type.googleapis.com/no.such.Type' } }] }],
    });
    assert.deepEqual(problems, [
      'envoy.config.listener.v3.Listener.filter_chains[0].filters[0].typed_config.@type: lost (unknown field, wrong message or unloaded Any type)',
      'Listener.filter_chains[0].filters[0].typed_config: any: type_url is empty',
    ]);
  });

  it('accepts every resource of the proxyless generator\'s goldens (test/golden/grpc)', () => {
    const dir = path.resolve(import.meta.dirname, '..', 'golden', 'grpc');
    let checked = 0;
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const golden = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as { type: string; resources: Record<string, object> };
      for (const [name, body] of Object.entries(golden.resources)) {
        assert.deepEqual(checkEnvoyResource(golden.type, body), [], `${file} ${name}`);
        checked++;
      }
    }
    assert.ok(checked >= 4, `only ${checked} resources`);
  });
});
