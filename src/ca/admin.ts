import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { Logger } from '../telemetry/log.js';
import { CA_FILES, type CaPems } from './authority.js';
import { RotationError, type RootRotation } from './rotation.js';

// The CA's admin endpoint (`meshd ca status|rotate|abort` talk to it): HTTP on `--ca-admin-addr`, which
// defaults to 127.0.0.1 — it changes the mesh's root of trust, so it is never exposed by default.
//
//   GET  /ca/rotation          the rotation's status (phases, fingerprints, what it waits for; no key material)
//   POST /ca/rotation          {"newDir": "/abs/dir"}: stage the cacerts files of that directory (read by meshd,
//                              so no key crosses the wire)
//   POST /ca/rotation/abort    one step back
//   POST /ca/rotation/check    check progress now (instead of at the next interval)

const MAX_BODY = 4096;
const stageBody = z.strictObject({ newDir: z.string().min(1).max(4096) });

/** Reads a cacerts directory (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem). */
export function readCacertsDir(dir: string): CaPems {
  if (!path.isAbsolute(dir)) throw new RotationError(`newDir ${JSON.stringify(dir)}: must be an absolute path on meshd's host`);
  const read = (f: string, required: boolean) => {
    try {
      return fs.readFileSync(path.join(dir, f), 'utf8');
    } catch (err) {
      if (required) throw new RotationError(`${dir}: cannot read ${f} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      return '';
    }
  };
  return { cert: read(CA_FILES.cert, true), key: read(CA_FILES.key, true), chain: read(CA_FILES.chain, false), root: read(CA_FILES.root, true) };
}

export class CaAdminServer {
  private readonly server: http.Server;

  constructor(private readonly rotation: RootRotation, private readonly log: Logger) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  listen(host: string, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve(`${host}:${(this.server.address() as AddressInfo).port}`));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body, null, 2) + '\n');
    };
    try {
      const url = new URL(req.url ?? '/', 'http://admin');
      if (req.method === 'GET' && url.pathname === '/ca/rotation') return reply(200, this.rotation.status());
      if (req.method !== 'POST') return reply(req.method === 'GET' ? 404 : 405, { error: `${req.method} ${url.pathname}: not found` });
      const body = await readBody(req);
      if (url.pathname === '/ca/rotation') {
        const parsed = stageBody.safeParse(JSON.parse(body || '{}'));
        if (!parsed.success) return reply(400, { error: `body: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}` });
        const status = await this.rotation.stage(readCacertsDir(parsed.data.newDir), `--new-dir ${parsed.data.newDir}`);
        this.log.info({ newDir: parsed.data.newDir }, 'root rotation staged from the admin endpoint');
        return reply(200, status);
      }
      if (url.pathname === '/ca/rotation/abort') return reply(200, await this.rotation.abort());
      if (url.pathname === '/ca/rotation/check') {
        await this.rotation.tick();
        return reply(200, this.rotation.status());
      }
      return reply(404, { error: `POST ${url.pathname}: not found` });
    } catch (err) {
      const known = err instanceof RotationError || err instanceof SyntaxError;
      if (!known) this.log.error({ err: (err as Error).message }, 'CA admin request failed');
      return reply(known ? 400 : 500, { error: (err as Error).message });
    }
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new RotationError(`body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
