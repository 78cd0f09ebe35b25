import net from 'node:net';

/**
 * What a cut does to the link:
 * - `refuse`: live connections are closed; new ones are accepted and reset at once (the client
 *   sees ECONNRESET straight away, as when the server is down).
 * - `stall`: live connections are closed; new ones are accepted and never answered (the client runs
 *   into its own connect timeout).
 * - `blackhole`: nothing is closed, nothing gets through: live connections stop forwarding and new
 *   ones stall, as in a network partition. `restore()` delivers what was held back.
 */
export type CutMode = 'refuse' | 'stall' | 'blackhole';

interface Link {
  client: net.Socket;
  upstream?: net.Socket;
}

/**
 * A TCP proxy in front of a server (by default the PostgreSQL on 127.0.0.1:5432) that can
 * simulate an outage: `cut()` breaks the link, `restore()` mends it.
 */
export class TcpProxy {
  private readonly server = net.createServer((client) => this.accept(client));
  private readonly links = new Set<Link>();
  private mode: CutMode | null = null;

  constructor(
    private readonly targetHost = '127.0.0.1',
    private readonly targetPort = 5432,
  ) {}

  /** Listens on a random port of 127.0.0.1 and returns it. */
  start(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Breaks the link (see CutMode) until `restore()`. */
  cut(mode: CutMode = 'refuse'): void {
    this.mode = mode;
    for (const link of this.links) {
      if (mode === 'blackhole') freeze(link);
      else this.drop(link);
    }
  }

  /** Forwards again: stalled connections are closed, frozen ones resume where they stopped. */
  restore(): void {
    // Only a cut link needs mending: re-piping a working one would send every byte twice.
    if (this.mode === null) return;
    this.mode = null;
    for (const link of this.links) {
      if (link.upstream) forward(link);
      else this.drop(link);
    }
  }

  /** Client connections the proxy holds (forwarded, frozen or stalled). */
  get connectionCount(): number {
    return this.links.size;
  }

  /** Stops listening and closes every connection. */
  close(): Promise<void> {
    for (const link of this.links) this.drop(link);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    client.on('error', () => undefined);
    if (this.mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    const link: Link = { client };
    this.links.add(link);
    client.on('close', () => this.drop(link));
    if (this.mode === 'stall' || this.mode === 'blackhole') return;

    const upstream = net.connect(this.targetPort, this.targetHost);
    upstream.on('error', () => undefined);
    upstream.on('close', () => this.drop(link));
    link.upstream = upstream;
    forward(link);
  }

  private drop(link: Link): void {
    this.links.delete(link);
    link.client.destroy();
    link.upstream?.destroy();
  }
}

function forward({ client, upstream }: Link): void {
  client.pipe(upstream!);
  upstream!.pipe(client);
}

function freeze({ client, upstream }: Link): void {
  if (!upstream) return;
  client.unpipe(upstream);
  upstream.unpipe(client);
  client.pause();
  upstream.pause();
}
