import http from 'node:http';
import { type AddressInfo } from 'node:net';

/**
 * How the receiver answers: `ok` 204; `fail` 500; `slow` answers 204 only after `slowMs`
 * (past the sender's timeout: the sender has given up, so it is not an acknowledgement); `hold`
 * keeps each request waiting until `release()`.
 */
export type ReceiverMode = 'ok' | 'fail' | 'slow' | 'hold';

/** One request as it arrived. */
export interface ReceivedRequest {
  headers: http.IncomingHttpHeaders;
  /** The raw body, as signed. */
  body: string;
  json: any;
  /** Answered 2xx while the sender was still waiting: the sender counts it as delivered. */
  acknowledged: boolean;
  at: number;
}

/**
 * A local webhook receiver on 127.0.0.1: real HTTP, switchable between answering, failing,
 * answering too late, and not listening at all (connection refused on its port).
 */
export class WebhookReceiver {
  mode: ReceiverMode = 'ok';
  slowMs = 3000;
  readonly requests: ReceivedRequest[] = [];
  /** Most requests in progress at the same time (one deliverer sends one at a time). */
  maxConcurrent = 0;
  private inFlight = 0;
  private held: (() => void)[] = [];
  private server: http.Server;

  private constructor(readonly port: number) {
    this.server = this.createServer();
  }

  static async start(): Promise<WebhookReceiver> {
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const receiver = new WebhookReceiver(port);
    await receiver.up();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/security`;
  }

  /** Requests the sender counts as delivered, in arrival order. */
  acknowledged(): ReceivedRequest[] {
    return this.requests.filter((r) => r.acknowledged);
  }

  /** Listens (again) on the same port. */
  async up(): Promise<void> {
    if (this.server.listening) return;
    this.server = this.createServer();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** Stops listening and drops every connection: the sender then gets "connection refused". */
  async down(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise((resolve) => this.server.close(resolve));
    this.server.closeAllConnections();
    await closed;
  }

  /** Lets every held request be answered 204. */
  release(): void {
    for (const answer of this.held.splice(0)) answer();
  }

  /** Resolves once `predicate` holds, polling; throws with what arrived after `timeoutMs`. */
  async waitFor(
    predicate: (r: WebhookReceiver) => boolean,
    timeoutMs = 20_000,
    what = 'the receiver to get what was expected',
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for ${what}; received: ${JSON.stringify(
            this.requests.map((r) => [r.json?.data?.id, r.json?.type, r.acknowledged]),
          )}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async close(): Promise<void> {
    this.release();
    await this.down();
  }

  private createServer(): http.Server {
    return http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: any;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        const entry: ReceivedRequest = {
          headers: req.headers,
          body,
          json,
          acknowledged: false,
          at: Date.now(),
        };
        this.requests.push(entry);
        this.inFlight++;
        this.maxConcurrent = Math.max(this.maxConcurrent, this.inFlight);
        const answer = (status: number) => {
          this.inFlight--;
          if (res.destroyed || req.socket.destroyed) return; // the sender gave up
          entry.acknowledged = status >= 200 && status < 300;
          res.writeHead(status).end();
        };
        if (this.mode === 'ok') answer(204);
        else if (this.mode === 'fail') answer(500);
        else if (this.mode === 'slow') setTimeout(() => answer(204), this.slowMs);
        else this.held.push(() => answer(204));
      });
    });
  }
}
