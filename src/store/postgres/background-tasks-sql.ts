// Finished background tasks, kept to be looked up (see Store['backgroundTasks']).

import { idFloor } from '../../core/ids.ts';
import { BACKGROUND_TASK_KEEP_MS, type BackgroundTask, type Store } from '../store.ts';
import { keysetPage } from './paginate.ts';
import { Params, type Pg, type Row, stmt } from './pg.ts';

// Ids hold their time: the old ones are those before the floor.
const PUT = stmt(`WITH old AS (DELETE FROM background_tasks WHERE id < $5)
  INSERT INTO background_tasks (id, task, data, updated_at) VALUES ($1, $2, $3, $4)`);

const task = (r: Row): BackgroundTask => ({
  id: r.id as string,
  task: r.task as string,
  status: 'finished',
  data: r.data as Record<string, unknown>,
  updatedAt: r.updated_at as number,
});

export function backgroundTasksSql(db: Pg): Store['backgroundTasks'] {
  return {
    async put(t) {
      const floor = idFloor('qtask', t.updatedAt - BACKGROUND_TASK_KEEP_MS);
      await db.run(PUT, [t.id, t.task, JSON.stringify(t.data), t.updatedAt, floor]);
    },
    async get(id) {
      const row = await db.one('SELECT * FROM background_tasks WHERE id = $1', [id]);
      return row ? task(row) : null;
    },
    list(query) {
      const params = new Params();
      return keysetPage(
        db,
        {
          select: 'SELECT * FROM background_tasks',
          where: query.task ? [`task = ${params.add(query.task)}`] : [],
          params,
          key: 'id',
          keyOf: (r) => r.id as string,
          page: query,
          defaultOrder: 'descending',
        },
        task,
      );
    },
  };
}
