// Finished background tasks, kept to be looked up (see Store['backgroundTasks']).

import { idFloor } from '../../core/ids.ts';
import { BACKGROUND_TASK_KEEP_MS, type BackgroundTask, type Store } from '../store.ts';
import type { Db, Row } from './db.ts';
import { keysetPage } from './paginate.ts';

const task = (r: Row): BackgroundTask => ({
  id: r.id as string,
  task: r.task as string,
  status: 'finished',
  data: JSON.parse(r.data as string),
  updatedAt: r.updated_at as number,
});

export function backgroundTasksSql(db: Db): Store['backgroundTasks'] {
  return {
    put(t) {
      return db.grouped(() => {
        // Ids hold their time: the old ones are those before the floor.
        db.run(
          'DELETE FROM background_tasks WHERE id < ?',
          idFloor('qtask', t.updatedAt - BACKGROUND_TASK_KEEP_MS),
        );
        db.run(
          'INSERT INTO background_tasks (id, task, data, updated_at) VALUES (?, ?, ?, ?)',
          t.id,
          t.task,
          JSON.stringify(t.data),
          t.updatedAt,
        );
      });
    },
    async get(id) {
      const row = db.get('SELECT * FROM background_tasks WHERE id = ?', id);
      return row ? task(row) : null;
    },
    async list(query) {
      const where = query.task ? ['task = ?'] : [];
      return keysetPage(
        db,
        {
          select: 'SELECT * FROM background_tasks',
          where,
          params: query.task ? [query.task] : [],
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
