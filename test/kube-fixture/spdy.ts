// pods/portforward the way kubectl speaks it: SPDY/3.1 streams over `Upgrade: SPDY/3.1`. (kubectl ≥ 1.31
// first tries the same bytes tunnelled in WebSocket, subprotocol `SPDY/3.1+portforward.k8s.io`; the `ws`
// server refuses that handshake — `/` is not a token character — and kubectl falls back to SPDY, as it
// does against API servers older than 1.31.)
// Per forwarded connection the client opens two streams with headers `streamtype: error|data`, `port`,
// `requestid`; the server answers each with SYN_REPLY, relays the data stream to the pod's port, writes a
// failed dial's reason on the error stream, and ends both (FIN) when the pod side closes.
//
// Only what kubectl's port-forward uses: SYN_STREAM, SYN_REPLY, DATA, RST_STREAM, PING (echoed), GOAWAY;
// SETTINGS/HEADERS/WINDOW_UPDATE are read and ignored (kubectl's SPDY library does no flow control).
// Header blocks are zlib with SPDY/3's dictionary: the client's are inflated as one stream; ours are
// written as stored (uncompressed) deflate blocks of one zlib stream, each followed by the empty block a
// Z_SYNC_FLUSH writes, which any inflater reads.

import net from 'node:net';
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import type { PortForwardTarget } from './portforward.js';

/** SPDY/3's header-compression dictionary (draft-mbelshe-httpbis-spdy-00 §2.6.10.1): length-prefixed names, then a text tail. */
const DICTIONARY: Buffer = (() => {
  const words = ['options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language',
    'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding', 'content-language',
    'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'etag', 'expect', 'expires', 'from', 'host',
    'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'pragma',
    'proxy-authenticate', 'proxy-authorization', 'range', 'referer', 'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade',
    'user-agent', 'vary', 'via', 'warning', 'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public',
    'set-cookie', 'keep-alive', 'origin'];
  const tail = '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505'
    + '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found'
    + '500 Internal Server Error501 Not Implemented503 Service Unavailable'
    + 'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT'
    + 'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,'
    + 'publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';
  return Buffer.concat([...words.flatMap((w) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(w.length);
    return [len, Buffer.from(w, 'latin1')];
  }), Buffer.from(tail, 'latin1')]);
})();

const SYN_STREAM = 1;
const SYN_REPLY = 2;
const RST_STREAM = 3;
const PING = 6;
const GOAWAY = 7;
const FLAG_FIN = 0x01;

interface Stream {
  readonly type: string;
  readonly port: number;
  readonly requestId: string;
}

/** One SPDY/3.1 session over `conn` (the upgraded socket, or the WebSocket tunnel as a Duplex). */
export function serveSpdyPortForward(conn: Duplex, targetOf: (port: number) => PortForwardTarget | undefined, podName: string): void {
  let input = Buffer.alloc(0);
  let compressedIn = Buffer.alloc(0);
  let inflatedBefore = 0;
  let wroteZlibHeader = false;
  const streams = new Map<number, Stream>();
  const pairs = new Map<string, { error?: number; data?: number; pod?: net.Socket }>();
  const sockets = new Set<net.Socket>();

  const write = (frame: Buffer) => {
    if (!conn.destroyed && conn.writable) conn.write(frame);
  };
  const control = (type: number, flags: number, body: Buffer) => {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(0x8003, 0); // control bit + version 3
    h.writeUInt16BE(type, 2);
    h.writeUInt32BE(body.length, 4);
    h[4] = flags;
    write(Buffer.concat([h, body]));
  };
  const data = (streamId: number, flags: number, payload: Buffer) => {
    for (let off = 0; off < payload.length || (off === 0 && payload.length === 0); off += 0xffffff) {
      const chunk = payload.subarray(off, off + 0xffffff);
      const h = Buffer.alloc(8);
      h.writeUInt32BE(streamId & 0x7fffffff, 0);
      h.writeUInt32BE(chunk.length, 4);
      h[4] = off + chunk.length >= payload.length ? flags : 0;
      write(Buffer.concat([h, chunk]));
      if (payload.length === 0) break;
    }
  };
  /** An empty header block (0 pairs) as a stored deflate block of our one zlib stream. */
  const emptyHeaderBlock = () => {
    const pairsCount = Buffer.alloc(4);
    const stored = Buffer.from([0x00, 0x04, 0x00, 0xfb, 0xff]); // BFINAL=0 BTYPE=00, LEN=4, NLEN=~4
    // then an empty stored block, as Z_SYNC_FLUSH ends a block: inflaters hand out what they have there
    const syncFlush = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);
    const parts = [stored, pairsCount, syncFlush];
    if (!wroteZlibHeader) {
      wroteZlibHeader = true;
      // CMF 0x78 (deflate, 32K window), FLG 0x20 (FDICT; 0x7820 % 31 == 0), then the dictionary's adler32
      const withDict = zlib.deflateSync(Buffer.alloc(0), { dictionary: DICTIONARY });
      parts.unshift(Buffer.from([0x78, 0x20]), withDict.subarray(2, 6));
    }
    return Buffer.concat(parts);
  };
  const headersOf = (block: Buffer): Map<string, string> => {
    compressedIn = Buffer.concat([compressedIn, block]);
    const all = zlib.inflateSync(compressedIn, { dictionary: DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const out = all.subarray(inflatedBefore);
    inflatedBefore = all.length;
    const headers = new Map<string, string>();
    let off = 4;
    for (let i = 0, n = out.readUInt32BE(0); i < n; i++) {
      const kl = out.readUInt32BE(off);
      const k = out.subarray(off + 4, off + 4 + kl).toString('latin1');
      off += 4 + kl;
      const vl = out.readUInt32BE(off);
      headers.set(k.toLowerCase(), out.subarray(off + 4, off + 4 + vl).toString('latin1'));
      off += 4 + vl;
    }
    return headers;
  };

  const finish = (requestId: string) => {
    const pair = pairs.get(requestId);
    if (!pair) return;
    pairs.delete(requestId);
    if (pair.data !== undefined) data(pair.data, FLAG_FIN, Buffer.alloc(0));
    if (pair.error !== undefined) data(pair.error, FLAG_FIN, Buffer.alloc(0));
  };
  const startForward = (requestId: string, port: number) => {
    const pair = pairs.get(requestId)!;
    const target = targetOf(port);
    const fail = (why: string) => {
      data(pair.error!, 0, Buffer.from(`error forwarding port ${port} to pod ${podName}: ${why}`));
      finish(requestId);
    };
    if (!target) return fail(`dial tcp4 127.0.0.1:${port}: connect: connection refused`);
    const sock = net.connect(target.port, target.host);
    pair.pod = sock;
    sockets.add(sock);
    sock.on('data', (d: Buffer) => data(pair.data!, 0, d));
    sock.on('error', (err) => fail(err.message));
    sock.on('close', () => {
      sockets.delete(sock);
      finish(requestId);
    });
  };

  const onFrame = (frame: Buffer) => {
    if (frame[0]! & 0x80) {
      const type = frame.readUInt16BE(2);
      const flags = frame[4]!;
      const body = frame.subarray(8);
      if (type === SYN_STREAM) {
        const id = body.readUInt32BE(0) & 0x7fffffff;
        const h = headersOf(body.subarray(10));
        const stream: Stream = { type: h.get('streamtype') ?? '', port: Number(h.get('port')), requestId: h.get('requestid') ?? String(id) };
        streams.set(id, stream);
        const reply = Buffer.alloc(4);
        reply.writeUInt32BE(id);
        control(SYN_REPLY, 0, Buffer.concat([reply, emptyHeaderBlock()]));
        const pair = pairs.get(stream.requestId) ?? {};
        pairs.set(stream.requestId, pair);
        if (stream.type === 'error') pair.error = id;
        if (stream.type === 'data') pair.data = id;
        if (pair.error !== undefined && pair.data !== undefined) startForward(stream.requestId, stream.port);
        if (flags & FLAG_FIN && stream.type === 'data') pair.pod?.end();
      } else if (type === RST_STREAM) {
        const s = streams.get(body.readUInt32BE(0) & 0x7fffffff);
        if (s) pairs.get(s.requestId)?.pod?.destroy();
      } else if (type === PING) {
        control(PING, 0, body.subarray(0, 4));
      } else if (type === GOAWAY) {
        conn.end();
      }
      return;
    }
    const id = frame.readUInt32BE(0) & 0x7fffffff;
    const flags = frame[4]!;
    const s = streams.get(id);
    if (!s || s.type !== 'data') return;
    const pod = pairs.get(s.requestId)?.pod;
    const payload = frame.subarray(8);
    if (pod && payload.length > 0 && !pod.destroyed) pod.write(payload);
    if (pod && flags & FLAG_FIN) pod.end();
  };

  conn.on('data', (chunk: Buffer) => {
    input = Buffer.concat([input, chunk]);
    while (input.length >= 8) {
      const length = input.readUInt32BE(4) & 0xffffff;
      if (input.length < 8 + length) break;
      const frame = input.subarray(0, 8 + length);
      input = input.subarray(8 + length);
      try {
        onFrame(frame);
      } catch {
        conn.destroy(); // a frame we cannot read: the client sees the connection lost, as with a broken peer
        return;
      }
    }
  });
  const closeAll = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  conn.on('close', closeAll);
  conn.on('error', closeAll);
}
