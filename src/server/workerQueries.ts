// Under --workers the metrics listener runs in the primary, which serves no
// requests: it asks each worker for its metrics and probe answers over the
// cluster IPC channel and combines them, so one scrape shows the whole
// process tree. A worker that does not answer in time (exiting, restarting)
// is left out of that answer rather than failing it.
import cluster from 'node:cluster';

export type QueryKind = 'metrics' | 'startup' | 'ready';

interface Query { gatewayQuery: QueryKind; id: number; exclude?: string[] }
interface Answer { gatewayAnswer: number; value?: unknown; error?: string }

const isQuery = (m: unknown): m is Query =>
  typeof m === 'object' && m !== null && typeof (m as Query).gatewayQuery === 'string' && typeof (m as Query).id === 'number';
const isAnswer = (m: unknown): m is Answer => typeof m === 'object' && m !== null && typeof (m as Answer).gatewayAnswer === 'number';

/** In a worker: answers the primary's queries with these; returns the function that stops answering. */
export function answerPrimary(answers: Record<QueryKind, (exclude: readonly string[]) => unknown>): () => void {
  const onMessage = (m: unknown) => {
    if (!isQuery(m) || !process.send) return;
    const reply = (a: Omit<Answer, 'gatewayAnswer'>) => {
      if (process.connected) process.send!({ gatewayAnswer: m.id, ...a } satisfies Answer);
    };
    Promise.resolve()
      .then(() => answers[m.gatewayQuery](Array.isArray(m.exclude) ? m.exclude.filter((e) => typeof e === 'string') : []))
      .then((value) => reply({ value }), (err: Error) => reply({ error: err.message }));
  };
  process.on('message', onMessage);
  return () => process.off('message', onMessage);
}

let nextId = 0;
const pending = new Map<number, (a: Answer) => void>();
let listening = false;

/** In the primary: every connected worker's answer that arrives within timeoutMs. */
export function askWorkers(kind: QueryKind, timeoutMs: number, exclude: readonly string[] = []): Promise<unknown[]> {
  if (!listening) {
    listening = true;
    cluster.on('message', (_worker, m: unknown) => {
      if (isAnswer(m)) pending.get(m.gatewayAnswer)?.(m);
    });
  }
  const workers = Object.values(cluster.workers ?? {}).filter((w) => w?.isConnected());
  if (workers.length === 0) return Promise.resolve([]);
  return new Promise((resolve) => {
    const values: unknown[] = [];
    const ids: number[] = [];
    let left = workers.length;
    const finish = () => {
      clearTimeout(timer);
      ids.forEach((id) => pending.delete(id));
      resolve(values);
    };
    const timer = setTimeout(finish, timeoutMs);
    timer.unref();
    for (const w of workers) {
      const id = nextId++;
      ids.push(id);
      pending.set(id, (a) => {
        pending.delete(id);
        if (a.error === undefined) values.push(a.value);
        if (--left === 0) finish();
      });
      try {
        w!.send({ gatewayQuery: kind, id, exclude: [...exclude] } satisfies Query);
      } catch {
        pending.delete(id);
        if (--left === 0) finish();
      }
    }
  });
}
