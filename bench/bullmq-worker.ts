// BullMQ baseline worker, run as a forked child process: POSTs each job's payload to every sink path.
// argv: <queue> <sink url> <concurrency> <endpoints>
import { Worker } from 'bullmq';
import { Pool } from 'undici';

const [queueName = '', sinkUrl = '', concurrencyArg = '64', endpointsArg = '1'] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const paths = Array.from({ length: Number(endpointsArg) }, (_, k) => `/ep/${k}`);
const pool = new Pool(sinkUrl, { connections: concurrency, pipelining: 1 });

type Job = { data: { id: string; payload: unknown } };

const worker = new Worker(
  queueName,
  async (job: Job) => {
    const body = JSON.stringify(job.data.payload);
    await Promise.all(
      paths.map(async (path) => {
        const res = await pool.request({
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json', 'webhook-id': job.data.id },
          body,
        });
        await res.body.dump();
        if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`sink answered ${res.statusCode}`);
      }),
    );
  },
  { connection: { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null }, concurrency },
);

async function stop(): Promise<void> {
  await worker.close();
  await pool.close();
  process.exit(0);
}

process.on('message', (m: { op?: string }) => {
  if (m.op === 'stop') void stop();
});
process.on('disconnect', () => process.exit(0));

await worker.waitUntilReady();
process.send?.({ ready: true });
