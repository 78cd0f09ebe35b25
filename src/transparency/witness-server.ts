import http from 'node:http';
import { type AddressInfo } from 'node:net';
import { MAX_ADD_CHECKPOINT_BYTES, type Witness } from './witness.js';

/**
 * The witness over HTTP (plain `node:http`): `POST <prefix>/add-checkpoint` as C2SP tlog-witness
 * specifies, `GET <prefix>/` a one-line status. Anything else is 404; a body past the limit 413.
 */
export function witnessServer(witness: Witness, prefix = ''): http.Server {
  const base = prefix.replace(/\/+$/, '');
  return http.createServer((req, res) => {
    const send = (status: number, contentType: string, body: string) => {
      res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(body);
    };
    const url = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (url === `${base}/` || url === base || url === '/'))
      return send(200, 'text/plain; charset=utf-8', `C2SP tlog-witness ${witness.name}\n`);
    if (url !== `${base}/add-checkpoint`)
      return send(404, 'text/plain; charset=utf-8', 'not found\n');
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return send(405, 'text/plain; charset=utf-8', 'add-checkpoint takes a POST\n');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ADD_CHECKPOINT_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (tooLarge)
        return send(
          413,
          'text/plain; charset=utf-8',
          `the request is larger than ${MAX_ADD_CHECKPOINT_BYTES} bytes\n`,
        );
      witness.addCheckpoint(Buffer.concat(chunks)).then(
        (a) => send(a.status, a.contentType, a.body),
        (error: unknown) =>
          send(500, 'text/plain; charset=utf-8', `witness error: ${(error as Error).message}\n`),
      );
    });
  });
}

/** Listens on host:port; answers the address it got. */
export function listen(server: http.Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}
