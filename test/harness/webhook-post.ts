// A raw POST to the webhook's admission endpoint, as anything that reaches its port could send it:
// a whole body, or chunks written some time apart with no declared length (a slow or endless upload).
import { request, type Agent } from 'node:https';

export interface WebhookAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function postToWebhook(
  port: number,
  agent: Agent,
  opts: { body?: string | Buffer; chunks?: Buffer[]; gapMs?: number; headers?: Record<string, string | number> },
): Promise<WebhookAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/mutate-v1-pod', method: 'POST', rejectUnauthorized: false, agent, headers: { 'Content-Type': 'application/json', ...opts.headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    // The server may close an upload it refused: the answer is what counts.
    req.on('error', reject);
    if (opts.chunks) {
      void (async () => {
        for (const c of opts.chunks!) {
          if (req.destroyed) return;
          req.write(c);
          await new Promise((r) => setTimeout(r, opts.gapMs ?? 0));
        }
        if (!req.destroyed) req.end();
      })();
    } else req.end(opts.body);
  });
}
