import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createCliLogger, defaultLogFormat, parseOutputLevels, type Logger } from '../../src/telemetry/log.js';

// What a person and a log pipeline read: one line per event, text or JSON, and istiod's per-scope levels.

function capture(): { stream: PassThrough; lines: () => string[] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  return { stream, lines: () => text.split('\n').filter(Boolean) };
}

async function logger(options: { format: 'text' | 'json'; level?: string; outputLevels?: string }): Promise<{ log: Logger; lines: () => string[] }> {
  const out = capture();
  const log = await createCliLogger({ ...options, destination: out.stream });
  return { log, lines: out.lines };
}

describe('logs', () => {
  it('text when stderr is a terminal, JSON otherwise', () => {
    assert.equal(defaultLogFormat({ isTTY: true }), 'text');
    assert.equal(defaultLogFormat({ isTTY: false }), 'json');
    assert.equal(defaultLogFormat({}), 'json');
  });

  it('JSON: one object per line with the message once and the event fields beside it', async () => {
    const { log, lines } = await logger({ format: 'json' });
    log.child({ scope: 'ads' }).info({ proxy: 'sidecar~10.1.0.5~p.default~default.svc.cluster.local', mode: 'delta' }, 'proxy connected');
    const [line, ...rest] = lines();
    assert.equal(rest.length, 0);
    const event = JSON.parse(line!) as Record<string, unknown>;
    assert.equal(event.msg, 'proxy connected');
    assert.equal(event.scope, 'ads');
    assert.equal(event.mode, 'delta');
    assert.equal(event.level, 30);
  });

  it('text: time, level, scope, message and fields on one line', async () => {
    const { log, lines } = await logger({ format: 'text' });
    log.child({ scope: 'ads' }).warn({ proxy: 'p-1', type: 'CDS' }, 'proxy rejected config (NACK)');
    log.info('meshd is serving');
    const [nack, serving, ...rest] = lines();
    assert.equal(rest.length, 0);
    assert.match(nack!, /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: ads: proxy rejected config \(NACK\) \{"proxy":"p-1","type":"CDS"\}$/);
    assert.match(serving!, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: meshd is serving$/);
    assert.doesNotMatch(serving!, /\u001b\[/, 'no colour codes when the destination is not a terminal');
  });

  it('--log-output-level sets a scope apart from the default, as istiod', async () => {
    const { log, lines } = await logger({ format: 'json', level: 'info', outputLevels: 'ads:debug,ca:error' });
    log.child({ scope: 'ads' }).debug('ads debug');
    log.child({ scope: 'ca' }).warn('ca warn');
    log.child({ scope: 'ca' }).error('ca error');
    log.child({ source: 'config-dir' }).debug('config-dir debug');
    log.debug('root debug');
    log.info('root info');
    // a child of a scoped logger keeps its scope's level
    log.child({ scope: 'ads' }).child({ proxy: 'p' }).debug('ads child debug');
    assert.deepEqual(lines().map((l) => (JSON.parse(l) as { msg: string }).msg), ['ads debug', 'ca error', 'root info', 'ads child debug']);

    const quiet = await logger({ format: 'json', level: 'info', outputLevels: 'default:warn,config-dir:debug' });
    quiet.log.info('root info');
    quiet.log.child({ source: 'config-dir' }).debug('config-dir debug');
    assert.deepEqual(quiet.lines().map((l) => (JSON.parse(l) as { msg: string }).msg), ['config-dir debug']);
  });

  it('bad levels and formats name the flag and the entry', async () => {
    assert.throws(() => parseOutputLevels('ads'), /^Error: --log-output-level: "ads" is not scope:level$/);
    assert.throws(() => parseOutputLevels('ads:loud'), /^Error: --log-output-level ads: "loud" is not one of trace, debug, info, warn, error, fatal, silent$/);
    await assert.rejects(createCliLogger({ level: 'verbose', format: 'json' }), /^Error: --log-level: "verbose" is not one of/);
    await assert.rejects(createCliLogger({ format: 'yaml' as 'json' }), /^Error: --log-format: "yaml" is not one of text, json$/);
  });
});
