// Publishes a numbered sequence of events with a fixed number of requests in flight and, after a
// chosen number of acknowledgements, lets the caller kill and restart the server. Publishing pauses
// while the server is down and resumes once it is back. Requests cut by a kill count as unacknowledged.

export interface PublishWithKillsOptions {
  events: number;
  concurrency: number; // requests in flight
  kills: number;
  /** Acknowledgements since the last (re)start after which the next kill happens. */
  killAfter: () => number;
  /** Publishes event `seq`; rejects when the connection fails. */
  send: (seq: number) => Promise<{ status: number; body: string }>;
  /** Kills the server and starts it again; `send` reaches the new process once this resolves. */
  crash: (kill: number, ackedSoFar: number) => Promise<void>;
}

export interface PublishResult {
  acked: Map<string, number>; // message id → seq, for every 202
  unacked: Set<number>; // seqs whose request failed: they may or may not have been committed
  httpErrors: string[]; // answers other than 202
  kills: number;
}

export async function publishWithKills(o: PublishWithKillsOptions): Promise<PublishResult> {
  const result: PublishResult = { acked: new Map(), unacked: new Set(), httpErrors: [], kills: 0 };
  let next = 0;
  let acksThisRun = 0;
  let killAt = o.killAfter();
  let gate: Promise<void> = Promise.resolve();
  let restarting: Promise<void> | null = null;
  let fatal: { error: unknown } | null = null; // a failed restart stops every loop

  const crash = async () => {
    let open = () => {};
    gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    try {
      result.kills++;
      await o.crash(result.kills, result.acked.size);
      acksThisRun = 0;
      killAt = o.killAfter();
    } catch (error) {
      fatal = { error };
    } finally {
      restarting = null;
      open();
    }
  };

  const loop = async () => {
    for (;;) {
      const seq = next++;
      if (seq >= o.events) return;
      await gate;
      if (fatal !== null) return;
      let answer: { status: number; body: string };
      try {
        answer = await o.send(seq);
      } catch {
        result.unacked.add(seq);
        continue;
      }
      if (answer.status !== 202) {
        result.httpErrors.push(`seq ${seq}: ${answer.status} ${answer.body.slice(0, 200)}`);
        continue;
      }
      result.acked.set((JSON.parse(answer.body) as { id: string }).id, seq);
      acksThisRun++;
      if (result.kills < o.kills && restarting === null && acksThisRun >= killAt) restarting = crash();
    }
  };

  await Promise.all(Array.from({ length: o.concurrency }, loop));
  while (restarting !== null) await restarting;
  if (fatal !== null) throw (fatal as { error: unknown }).error;
  return result;
}
