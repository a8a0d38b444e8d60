// The relay bound, run as a forked child: the least a webhook relay can do per event on this machine.
// A node:http server parses each published JSON body, answers 202 with an id, then forwards the body
// with undici to the sink, tagged with that id. Nothing is stored, signed or retried: Doorbell's rate
// divided by this one is what durability, the API and delivery bookkeeping cost.
// Argument: the sink's URL. IPC: sends { port } once listening; exits when the parent goes away.
import { createServer } from 'node:http';
import { Agent } from 'undici';

const sink = new URL(process.argv[2] ?? '');
const agent = new Agent({ connections: 512 });
let sent = 0;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    try {
      JSON.parse(body);
    } catch {
      res.writeHead(400).end();
      return;
    }
    const id = `msg_relay_${++sent}`;
    res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id }));
    agent
      .request({
        origin: sink.origin,
        path: '/relay',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'webhook-id': id },
        body,
      })
      .then((answer) => answer.body.dump())
      .catch((error: Error) => console.error(`relay: forward failed: ${error.message}`));
  });
});
server.keepAliveTimeout = 30_000;

process.on('disconnect', () => process.exit(0));
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  if (addr !== null && typeof addr === 'object') process.send?.({ port: addr.port });
});
