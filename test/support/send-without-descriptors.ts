// Run under a low open-file limit: takes every descriptor left, then sends one request to 127.0.0.1:9
// and prints the sender's result as JSON on stdout.
import { openSync } from 'node:fs';
import { parseCidrs } from '../../src/core/ssrf.ts';
import { createSender } from '../../src/delivery/undici-sender.ts';

const sender = createSender({
  timeoutMs: 2_000,
  connectTimeoutMs: 1_000,
  bodyCap: 1024,
  allow: parseCidrs(['127.0.0.0/8']),
});
try {
  for (;;) openSync('/dev/null', 'r');
} catch {} // EMFILE: none left
const result = await sender.send({ url: 'http://127.0.0.1:9/hook', headers: {}, body: '{}' });
process.stdout.write(JSON.stringify(result));
process.exit(0);
