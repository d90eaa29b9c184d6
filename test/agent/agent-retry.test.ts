import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { Agent, backoffDelay, type AgentClock, type AgentOptions, type CertificateRequester } from '../../src/agent/agent.js';
import { CertificateAuthority, createSelfSignedRoot } from '../../src/ca/authority.js';
import { parseCsr } from '../../src/ca/x509.js';
import { silentLogger } from '../../src/telemetry/log.js';

// meshd agent's retry and renewal timing, driven by a fake clock (no real sleeping) and an in-process CA
// behind a requester that fails on demand: the first certificate is retried with jittered exponential
// backoff until --initial-cert-timeout, refusals fail at once, renewals land at half life ± 10 %.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-agent-retry-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.the-pod-token.c2lnbmF0dXJl';
const tokenFile = path.join(tmp, 'istio-token');
fs.writeFileSync(tokenFile, TOKEN);
const ca = CertificateAuthority.fromPems({ trustDomain: 'cluster.local', log: silentLogger, source: 'test' }, createSelfSignedRoot({ trustDomain: 'cluster.local', keyType: 'ec' }));

/** Timers that fire only when the test says so; `delays` records every timer asked for. */
class FakeClock implements AgentClock {
  t = Date.now();
  readonly delays: number[] = [];
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private seq = 0;
  constructor(private readonly randoms: number[] = []) {}
  now = () => this.t;
  random = () => this.randoms.shift() ?? 0.5;
  setTimeout = (fn: () => void, ms: number) => {
    this.timers.push({ at: this.t + ms, fn, id: ++this.seq });
    this.delays.push(ms);
    return this.seq;
  };
  clearTimeout = (id: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== id);
  };
  get pending(): number {
    return this.timers.length;
  }
  /** Lets the agent's promise chains run until it has set a timer (or `done` says it finished). */
  async settle(done: () => boolean = () => false): Promise<void> {
    for (let i = 0; i < 10_000 && this.timers.length === 0 && !done(); i++) await new Promise((r) => setImmediate(r));
  }
  /** Moves time to the earliest timer and runs it. */
  fire(): void {
    this.timers.sort((a, b) => a.at - b.at);
    const next = this.timers.shift();
    assert.ok(next, 'a timer is pending');
    this.t = next.at;
    next.fn();
  }
}

/** CreateCertificate against the in-process CA, failing the first `failures` calls with `code`. */
class FlakyRequester implements CertificateRequester {
  calls = 0;
  readonly tokens: string[] = [];
  constructor(
    private failures: number,
    private readonly code = grpc.status.UNAVAILABLE,
  ) {}
  failNext(n: number): void {
    this.failures = n;
  }
  async request(csr: string, validitySeconds: number, token: string): Promise<string[]> {
    this.calls++;
    this.tokens.push(token);
    if (this.failures > 0) {
      this.failures--;
      throw Object.assign(new Error(`CreateCertificate: ${grpc.status[this.code]}: no connection established`), { code: this.code });
    }
    const parsed = parseCsr(csr);
    return [...(await ca.sign(parsed, { uris: parsed.uris, ttlMs: validitySeconds * 1000 })).chain];
  }
  close(): void {}
}

const logLines: string[] = [];
const log = pino({ level: 'debug' }, new Writable({ write: (chunk, _enc, cb) => (logLines.push(String(chunk)), cb()) }));

let n = 0;
function agentWith(over: Partial<AgentOptions>): Agent {
  const dir = path.join(tmp, `a${++n}`);
  return new Agent({
    caAddr: '127.0.0.1:15012', caRootFile: '/nonexistent', caServerName: 'istiod.istio-system.svc', tokenFile,
    xdsAddr: '127.0.0.1:15010', namespace: 'default', serviceAccount: 'greeter', podName: 'greeter-1', podIp: '127.0.0.5',
    trustDomain: 'cluster.local', certDir: path.join(dir, 'certs'), bootstrapFile: path.join(dir, 'bootstrap.json'),
    certTtlMs: 3600e3, log, ...over,
  });
}

describe('backoffDelay', () => {
  it('doubles from initialMs up to maxMs, each delay within ± 20 %', () => {
    const b = { initialMs: 1000, maxMs: 30_000 };
    for (const r of [0, 0.25, 0.5, 0.75, 0.999999]) {
      for (let attempt = 1; attempt <= 40; attempt++) {
        const base = Math.min(30_000, 1000 * 2 ** (attempt - 1));
        const d = backoffDelay(attempt, b, () => r);
        assert.ok(d >= 0.8 * base && d <= 1.2 * base, `attempt ${attempt}, random ${r}: ${d} outside ${base} ± 20 %`);
      }
    }
    assert.equal(backoffDelay(1, b, () => 0.5), 1000);
    assert.equal(backoffDelay(3, b, () => 0.5), 4000);
    assert.equal(backoffDelay(10, b, () => 0.5), 30_000);
    assert.equal(backoffDelay(1, b, () => 0), 800);
  });
});

describe('meshd agent: the first certificate', () => {
  it('retries an unreachable CA with jittered exponential backoff, then writes the certificate', async () => {
    const clock = new FakeClock([0.5, 0, 0.999999, 0.5]);
    const requester = new FlakyRequester(4);
    const agent = agentWith({ requester, clock });
    let done = false;
    const started = agent.start().finally(() => (done = true));
    for (let i = 0; i < 4; i++) {
      await clock.settle(() => done);
      clock.fire();
    }
    const issued = await started;
    agent.stop();
    assert.equal(requester.calls, 5);
    // attempt n waits 1 s · 2^(n-1) × [0.8, 1.2): 1000 (×1.0), 1600 (×0.8), 4800 (×1.2), 8000 (×1.0)
    assert.deepEqual(clock.delays.slice(0, 4), [1000, 1600, 4800, 8000]);
    assert.ok(issued.notAfter.getTime() > Date.now());
    assert.ok(fs.existsSync(path.join(tmp, `a${n}`, 'bootstrap.json')), 'bootstrap written after the certificate');
    const retries = logLines.filter((l) => l.includes('first certificate request failed; retrying'));
    assert.equal(retries.length, 4);
    assert.deepEqual(retries.map((l) => JSON.parse(l).attempt), [1, 2, 3, 4]);
    assert.match(retries[0]!, /UNAVAILABLE/);
  });

  it('gives up after --initial-cert-timeout with the last error, never sleeping past the deadline', async () => {
    const clock = new FakeClock();
    const requester = new FlakyRequester(Infinity);
    const agent = agentWith({ requester, clock, initialCertTimeoutMs: 10_000 });
    const t0 = clock.now();
    let failure: Error | undefined;
    const started = agent.start().catch((err: Error) => (failure = err));
    while (!failure) {
      await clock.settle(() => failure !== undefined);
      if (!failure) clock.fire();
    }
    await started;
    // tries at 0, 1, 3, 7 s; the next wait (8 s) is cut to the 3 s left; a last try at 10 s, then no more
    assert.deepEqual(clock.delays, [1000, 2000, 4000, 3000]);
    assert.equal(clock.now() - t0, 10_000);
    assert.equal(requester.calls, 5);
    assert.match(failure.message, /no certificate from the CA at 127\.0\.0\.1:15012 within 10s \(--initial-cert-timeout\), 5 attempt\(s\); last error: CreateCertificate: UNAVAILABLE/);
    assert.equal(clock.pending, 0, 'no renewal scheduled');
    agent.stop();
  });

  it('fails at once when the CA refuses (PERMISSION_DENIED is not retried)', async () => {
    const clock = new FakeClock();
    const requester = new FlakyRequester(1, grpc.status.PERMISSION_DENIED);
    const agent = agentWith({ requester, clock });
    await assert.rejects(agent.start(), /PERMISSION_DENIED/);
    assert.equal(requester.calls, 1);
    assert.deepEqual(clock.delays, []);
    agent.stop();
  });

  it('stop() ends a first-certificate wait at once', async () => {
    const clock = new FakeClock();
    const agent = agentWith({ requester: new FlakyRequester(Infinity), clock });
    const started = agent.start();
    await clock.settle();
    agent.stop();
    await assert.rejects(started, /agent stopped before the first certificate/);
  });
});

describe('meshd agent: renewal', () => {
  it('renews at half life ± 10 % of the certificate lifetime', async () => {
    for (const r of [0, 0.25, 0.5, 0.75, 0.999999]) {
      const clock = new FakeClock([r]);
      const agent = agentWith({ requester: new FlakyRequester(0), clock });
      const issued = await agent.start();
      agent.stop();
      const life = issued.notAfter.getTime() - issued.notBefore.getTime();
      const at = clock.now() + clock.delays[0]! - issued.notBefore.getTime(); // the renewal's offset into the lifetime
      assert.equal(clock.delays.length, 1);
      assert.ok(at >= 0.4 * life && at <= 0.6 * life, `random ${r}: renews at ${at / life} of the lifetime`);
      assert.ok(Math.abs(at - life * (0.4 + 0.2 * r)) <= 1, `random ${r}: ${at} vs ${life * (0.4 + 0.2 * r)}`);
    }
  });

  it('retries a failed renewal with backoff and reschedules the next one within the bounds', async () => {
    // (the CA stamps real time, this clock has moved 30 min on: a late renewal point would clamp to 0)
    const clock = new FakeClock([0.5, 0.5, 0.5, 0.9]);
    const requester = new FlakyRequester(0);
    const agent = agentWith({ requester, clock });
    const first = await agent.start();
    requester.failNext(2);
    for (let i = 0; i < 3; i++) {
      clock.fire(); // the renewal, then its two retries
      await clock.settle();
    }
    agent.stop();
    assert.equal(agent.renewals, 1);
    assert.notEqual(agent.certificate!.serial, first.serial);
    assert.deepEqual(clock.delays.slice(1, 3), [1000, 2000]);
    const next = agent.certificate!;
    const life = next.notAfter.getTime() - next.notBefore.getTime();
    const at = clock.now() + clock.delays[3]! - next.notBefore.getTime();
    assert.ok(Math.abs(at - life * (0.4 + 0.2 * 0.9)) <= 1, `renews at ${at / life} of the lifetime`);
    assert.equal(logLines.filter((l) => l.includes('certificate renewal failed')).length, 2);
  });
});

describe('meshd agent: logs', () => {
  it('hold no key material and no token', () => {
    const all = logLines.join('');
    assert.ok(logLines.length > 10, `${logLines.length} log lines`);
    assert.ok(all.includes('certificate written'));
    assert.doesNotMatch(all, /PRIVATE KEY|BEGIN CERTIFICATE|CERTIFICATE REQUEST/);
    assert.ok(!all.includes(TOKEN) && !all.includes('eyJ'), 'no token');
  });
});
