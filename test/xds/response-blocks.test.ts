import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeResource, type EncodedResource } from '../../src/xds/cache.js';
import { decodeDeltaDiscoveryResponse, deltaResourceBlocks, encodeDeltaDiscoveryResponse } from '../../src/xds/delta-wire.js';
import { ResponseBlocks } from '../../src/xds/response-blocks.js';
import { TYPE } from '../../src/xds/resource-types.js';
import { decodeDiscoveryResponse, encodeDiscoveryResponse, sotwResourceBlocks } from '../../src/xds/wire.js';

// Responses built from shared, once-encoded blocks of resources must be byte-for-byte the responses one
// writer over the whole message gives, and a block must be reused by the next stream sending that list.

const cluster = (name: string): EncodedResource => encodeResource(TYPE.CDS, name, { name, type: 'EDS', eds_cluster_config: { service_name: name } });
const viewPart = ['outbound|80||a.ns.svc.cluster.local', 'outbound|80||b.ns.svc.cluster.local'].map(cluster);
const classPart = [cluster('inbound|8080||')];

describe('response blocks', () => {
  it('a Delta response from shared lists equals the same response from its flat resources, and the second stream reuses the blocks', () => {
    const base = { systemVersionInfo: 'v3', typeUrl: TYPE.CDS, nonce: '7', removed: ['gone'], controlPlane: 'meshd' };
    const flat = encodeDeltaDiscoveryResponse({ ...base, resources: [...viewPart, ...classPart] });
    const hits = deltaResourceBlocks.hits;
    const shared = encodeDeltaDiscoveryResponse({ ...base, resources: [...viewPart, ...classPart], sharedLists: [viewPart, classPart] });
    assert.ok(Buffer.from(shared).equals(flat));
    const again = encodeDeltaDiscoveryResponse({ ...base, nonce: '8', resources: [...viewPart, ...classPart], sharedLists: [viewPart, classPart] });
    assert.equal(deltaResourceBlocks.hits - hits, 2, 'both lists came from the kept blocks');
    const decoded = decodeDeltaDiscoveryResponse(again) as { resources: { name: string; version: string }[]; nonce: string; removed_resources: string[] };
    assert.deepEqual(decoded.resources.map((r) => [r.name, r.version]), [...viewPart, ...classPart].map((r) => [r.name, r.hash]));
    assert.equal(decoded.nonce, '8');
    assert.deepEqual(decoded.removed_resources, ['gone']);
  });

  it('a state-of-the-world response from shared lists equals the same response from its flat resources', () => {
    const base = { versionInfo: 'v3', typeUrl: TYPE.CDS, nonce: '7', controlPlane: 'meshd' };
    const flat = encodeDiscoveryResponse({ ...base, resources: [...viewPart, ...classPart] });
    const hits = sotwResourceBlocks.hits;
    assert.ok(Buffer.from(encodeDiscoveryResponse({ ...base, resources: [...viewPart, ...classPart], sharedLists: [viewPart, classPart] })).equals(flat));
    assert.ok(Buffer.from(encodeDiscoveryResponse({ ...base, resources: [...viewPart, ...classPart], sharedLists: [viewPart, classPart] })).equals(flat));
    assert.equal(sotwResourceBlocks.hits - hits, 2);
    assert.equal((decodeDiscoveryResponse(flat) as { resources: unknown[] }).resources.length, 3);
  });

  it('keeps at most its budget of bytes, dropping the least recently used block first', () => {
    const blocks = new ResponseBlocks((rs) => new Uint8Array(rs.length * 100), 250);
    const a = [cluster('a')];
    const b = [cluster('b')];
    const c = [cluster('c')];
    blocks.get(a);
    blocks.get(b);
    blocks.get(a); // a is now the most recently used
    blocks.get(c); // 300 bytes > 250: b goes
    const misses = blocks.misses;
    blocks.get(a);
    blocks.get(c);
    assert.equal(blocks.misses, misses, 'a and c kept');
    blocks.get(b);
    assert.equal(blocks.misses, misses + 1, 'b was dropped');
  });
});
