// Svix's background tasks (not in the reference; the SDK's backgroundTask.get and list): the recovers,
// replays and expunges of all contents run, each finished by the time its call answered.
import { Type } from 'typebox';
import { getBackgroundTask, listBackgroundTasks } from '../../app/background-tasks.ts';
import type { BackgroundTask } from '../../store/store.ts';
import type { Api, RouteContext } from '../context.ts';
import { iso, pageOut } from '../dto.ts';
import { pageQuery } from '../query.ts';
import { DateTime, Nullable, Ordering, PageParams, Uid } from '../schemas/common.ts';

const tags = ['Background Task'];
const TASKS = ['endpoint.recover', 'endpoint.replay', 'endpoint.bulk-replay', 'application.purge_content'];
// The SDK's BackgroundTaskType: a list may ask for any of them (those Doorbell never runs match none).
const SDK_TASKS = [
  ...TASKS,
  'application.stats',
  'message.broadcast',
  'sdk.generate',
  'event-type.aggregate',
];
const BackgroundTaskOut = Type.Object({
  id: Type.String(),
  status: Type.Unsafe<'finished'>({ type: 'string', enum: ['finished'] }),
  task: Type.Unsafe<string>({ type: 'string', enum: TASKS }),
  data: Type.Object({}, { additionalProperties: true }),
  updatedAt: DateTime,
});
const ListQuery = Type.Object({
  ...PageParams,
  order: Type.Optional(Ordering),
  status: Type.Optional(
    Nullable(Type.Unsafe<string>({ type: 'string', enum: ['running', 'finished', 'failed'] })),
  ),
  task: Type.Optional(Nullable(Type.Unsafe<string>({ type: 'string', enum: SDK_TASKS }))),
});

const taskOut = (t: BackgroundTask) => ({ ...t, updatedAt: iso(t.updatedAt) });

export function backgroundTaskRoutes(api: Api, { deps }: RouteContext): void {
  api.get(
    '/background-task',
    {
      schema: {
        tags,
        operationId: 'v1.background-task.list',
        querystring: ListQuery,
        response: {
          200: Type.Object({
            data: Type.Array(BackgroundTaskOut),
            iterator: Nullable(Type.String()),
            prevIterator: Nullable(Type.String()),
            done: Type.Boolean(),
          }),
        },
      },
    },
    async (request) => {
      const q = request.query;
      const query = { ...pageQuery(q, 'qtask', q.order), task: q.task ?? null, status: q.status ?? null };
      return pageOut(await listBackgroundTasks(deps, request.scope, query), taskOut);
    },
  );

  api.get(
    '/background-task/:task_id',
    {
      schema: {
        tags,
        operationId: 'v1.background-task.get',
        params: Type.Object({ task_id: Uid }),
        response: { 200: BackgroundTaskOut },
      },
    },
    async (request) => taskOut(await getBackgroundTask(deps, request.scope, request.params.task_id)),
  );
}
