// Attempts: the history of every HTTP try, listed per message, per endpoint or per application.

import type { Attempt } from '../../core/types.ts';
import type { Store } from '../store.ts';
import { type Db, messageFilters, type Row, timeFilters } from './db.ts';
import { keysetPage } from './paginate.ts';

function toAttempt(r: Row): Attempt {
  return {
    id: r.id as string,
    appId: r.app_id as string,
    msgId: r.msg_id as string,
    endpointId: r.endpoint_id as string,
    url: r.url as string,
    status: r.status === 0 ? 'success' : 'fail',
    responseStatusCode: r.response_status_code as number,
    response: r.response as string,
    responseDurationMs: r.response_duration_ms as number,
    triggerType: r.trigger_type === 1 ? 'manual' : 'scheduled',
    createdAt: r.created_at as number,
  };
}

export function attemptsSql(db: Db): Store['attempts'] {
  return {
    async get(appId, msgId, attemptId) {
      const row = db.get(
        'SELECT * FROM attempts WHERE id = ? AND app_id = ? AND msg_id = ?',
        attemptId,
        appId,
        msgId,
      );
      return row ? toAttempt(row) : null;
    },
    async list(appId, query) {
      // With a message or endpoint given, '+' keeps the planner on that narrower index.
      const narrow = query.msgId != null || query.endpointId != null;
      const where = [narrow ? '+a.app_id = ?' : 'a.app_id = ?'];
      const params: unknown[] = [appId];
      if (query.msgId != null) {
        where.push('a.msg_id = ?');
        params.push(query.msgId);
      }
      if (query.endpointId != null) {
        where.push('a.endpoint_id = ?');
        params.push(query.endpointId);
      }
      if (query.status != null) {
        where.push('a.status = ?');
        params.push(query.status === 'success' ? 0 : 2);
      }
      if (query.statusCodeClass != null) {
        // 0: no response; otherwise the hundreds class (100 = 1xx … 500 = 5xx).
        if (query.statusCodeClass === 0) where.push('a.response_status_code = 0');
        else {
          where.push('a.response_status_code >= ? AND a.response_status_code < ?');
          params.push(query.statusCodeClass, query.statusCodeClass + 100);
        }
      }
      timeFilters('a.created_at', where, params, query);
      const joinMessages = Boolean(query.channel) || (query.eventTypes?.length ?? 0) > 0;
      messageFilters('m', where, params, query);
      return keysetPage(
        db,
        {
          select: `SELECT a.* FROM attempts a${joinMessages ? ' JOIN messages m ON m.id = a.msg_id' : ''}`,
          where,
          params,
          key: 'a.id',
          keyOf: (r) => r.id as string,
          page: query,
          defaultOrder: 'descending',
        },
        toAttempt,
      );
    },
    async expungeContent(appId, msgId, attemptId) {
      return (
        db.run(
          "UPDATE attempts SET response = '' WHERE id = ? AND app_id = ? AND msg_id = ?",
          attemptId,
          appId,
          msgId,
        ) > 0
      );
    },
  };
}
