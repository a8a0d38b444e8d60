// A local webhook receiver for end-to-end tests: a node:http server on 127.0.0.1 that records every
// request (webhook-id, headers, raw body, arrival time, the status it answered) and can check signatures
// with the `standardwebhooks` library, so Doorbell's bytes are judged by an independent implementation.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedRequest {
  webhookId: string; // '' when the header is missing
  headers: Record<string, string>;
  body: string;
  status: number; // what the receiver answered; with `handle`, 0 until the answer has finished
  attempt: number; // 1 for the first request carrying this webhook-id, 2 for the next, …
  at: number; // Date.now() when the body had arrived
}

export interface RespondInput {
  webhookId: string;
  body: string;
  attempt: number;
}

export interface ReceiverOptions {
  /** Status to answer; the default is 200 for every request. */
  respond?: (req: RespondInput) => number;
  /** Answers each request itself instead (after it is recorded), now or later. */
  handle?: (req: ReceivedRequest, res: ServerResponse) => void;
}

export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly requests: readonly ReceivedRequest[];
  /** webhook-id → number of requests answered with a 2xx. */
  successes(): Map<string, number>;
  /** Checks the signature of every recorded request (or those `filter` keeps) against `secret`. */
  verify(secret: string, filter?: (r: ReceivedRequest) => boolean): { verified: number; failures: string[] };
  /** Runs `fn` after `ms` unless the receiver is closed first. */
  later(ms: number, fn: () => void): void;
  close(): Promise<void>;
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const seen = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers = flatHeaders(req);
      const webhookId = headers['webhook-id'] ?? '';
      const body = Buffer.concat(chunks).toString('utf8');
      const attempt = (seen.get(webhookId) ?? 0) + 1;
      seen.set(webhookId, attempt);
      const at = Date.now();
      if (options.handle) {
        const request: ReceivedRequest = { webhookId, headers, body, status: 0, attempt, at };
        requests.push(request);
        res.once('finish', () => {
          request.status = res.statusCode;
        });
        options.handle(request, res);
        return;
      }
      const status = options.respond?.({ webhookId, body, attempt }) ?? 200;
      requests.push({ webhookId, headers, body, status, attempt, at });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'fail');
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    requests,
    successes() {
      const counts = new Map<string, number>();
      for (const r of requests) {
        if (r.status >= 200 && r.status < 300) counts.set(r.webhookId, (counts.get(r.webhookId) ?? 0) + 1);
      }
      return counts;
    },
    verify(secret, filter = () => true) {
      const wh = new Webhook(secret);
      const failures: string[] = [];
      let verified = 0;
      for (const r of requests) {
        if (!filter(r)) continue;
        try {
          wh.verify(r.body, r.headers, { jsonParse: false });
          verified++;
        } catch (err) {
          failures.push(`${r.webhookId}: ${(err as Error).message}`);
        }
      }
      return { verified, failures };
    },
    later(ms, fn) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        fn();
      }, ms);
      timers.add(timer);
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
