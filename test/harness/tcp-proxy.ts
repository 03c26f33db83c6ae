// A TCP proxy for fault injection (node:net only): forwards bytes between clients and one upstream
// (the API server; TLS passes through untouched, so the server's certificate must be valid for the
// proxy's address, 127.0.0.1). It can
//  - freeze: stop moving bytes on every connection without closing any (as a network that drops
//    packets does), and accept new connections but leave them hanging (no upstream connection);
//    a close on either side is not passed on either, until the thaw;
//  - thaw: move everything that was held back, connect the held connections upstream, pass on
//    the closes that happened meanwhile;
//  - cut: destroy every connection at once (a reset).
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxyStats {
  /** Connections accepted so far. */
  accepted: number;
  /** Accepted while frozen (left hanging until the thaw). */
  acceptedFrozen: number;
  /** Open right now. */
  open: number;
  bytesUp: number;
  bytesDown: number;
  freezes: number;
  cuts: number;
}

export interface TcpProxy {
  port: number;
  /** https://127.0.0.1:<port> */
  url: string;
  readonly frozen: boolean;
  readonly stats: TcpProxyStats;
  freeze(): void;
  thaw(): void;
  /** Destroys every open connection (both sides). */
  cut(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream?: Socket;
  /** A side closed while frozen: close the pair at the thaw. */
  closePending: boolean;
  closed: boolean;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const stats: TcpProxyStats = { accepted: 0, acceptedFrozen: 0, open: 0, bytesUp: 0, bytesDown: 0, freezes: 0, cuts: 0 };
  const pairs = new Set<Pair>();
  let frozen = false;

  const closePair = (p: Pair) => {
    if (p.closed) return;
    p.closed = true;
    pairs.delete(p);
    stats.open--;
    p.client.destroy();
    p.upstream?.destroy();
  };

  const onSideClosed = (p: Pair) => {
    if (frozen) p.closePending = true;
    else closePair(p);
  };

  // Manual forwarding (no pipe()): pause() must hold, and a paused socket must stay paused.
  const forward = (p: Pair, from: Socket, to: Socket, count: (n: number) => void) => {
    from.on('data', (chunk: Buffer) => {
      count(chunk.length);
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!frozen && !p.closed) from.resume();
    });
    from.on('end', () => {
      if (frozen) p.closePending = true;
      else to.end();
    });
  };

  const link = (p: Pair) => {
    const upstream = connect(target.port, target.host);
    p.upstream = upstream;
    upstream.on('error', () => onSideClosed(p));
    upstream.on('close', () => onSideClosed(p));
    forward(p, p.client, upstream, (n) => (stats.bytesUp += n));
    forward(p, upstream, p.client, (n) => (stats.bytesDown += n));
    if (frozen) {
      p.client.pause();
      upstream.pause();
    }
  };

  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    stats.accepted++;
    stats.open++;
    const p: Pair = { client, closePending: false, closed: false };
    pairs.add(p);
    client.on('error', () => onSideClosed(p));
    client.on('close', () => onSideClosed(p));
    if (frozen) {
      // Accepted, then nothing: no upstream connection, no byte read, until the thaw.
      stats.acceptedFrozen++;
      return;
    }
    link(p);
    client.resume();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  return {
    port,
    url: `https://127.0.0.1:${port}`,
    get frozen() {
      return frozen;
    },
    stats,
    freeze() {
      if (frozen) return;
      frozen = true;
      stats.freezes++;
      for (const p of pairs) {
        p.client.pause();
        p.upstream?.pause();
      }
    },
    thaw() {
      if (!frozen) return;
      frozen = false;
      for (const p of [...pairs]) {
        if (p.closePending) {
          closePair(p);
          continue;
        }
        if (!p.upstream) link(p);
        p.client.resume();
        p.upstream?.resume();
      }
    },
    cut() {
      stats.cuts++;
      for (const p of [...pairs]) closePair(p);
    },
    async close() {
      for (const p of [...pairs]) closePair(p);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
