/**
 * A loopback TCP proxy in front of a test server: counts the bytes clients
 * send and can cut every open connection, as a broken network would.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

export class TcpProxy {
  private server: Server | undefined;
  private sockets = new Set<Socket>();
  /** Bytes received from clients since start. */
  bytesFromClients = 0;
  /** Connections accepted since start. */
  connections = 0;
  port = 0;

  constructor(private readonly upstreamPort: number) {}

  async start(): Promise<this> {
    this.server = createServer((client) => {
      this.connections++;
      const upstream = connect(this.upstreamPort, "127.0.0.1");
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => s.destroy());
      }
      client.on("data", (d: Buffer) => {
        this.bytesFromClients += d.length;
      });
      client.pipe(upstream);
      upstream.pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Destroys every open connection (new ones are still accepted). */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
