// Attempts: the history of every HTTP try, listed per message or per endpoint (the API lists them no other
// way; a list of a whole application reads the table, having no index of its own since schema 17).

import { attemptStatusTerms, filtersMessages, toAttempt } from '../rows.ts';
import type { Store } from '../store.ts';
import { type Db, messageFilters, timeFilters } from './db.ts';
import { keysetPage } from './paginate.ts';
import { rareFilterOf } from './rare-filter.ts';

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
      where.push(...attemptStatusTerms(query));
      timeFilters('a.created_at', where, params, query, { key: 'a.id', prefix: 'atmpt' });
      const joinMessages = filtersMessages(query);
      // Filtered by what few messages have, through those messages (CROSS JOIN: SQLite reads them first),
      // each one's attempts found by its id, and sorted; a message's own attempts are few.
      const rare = joinMessages && query.msgId == null ? rareFilterOf(db, appId, query) : null;
      let from = `attempts a${joinMessages ? ' JOIN messages m ON m.id = a.msg_id' : ''}`;
      if (rare?.label) {
        from = 'message_labels l CROSS JOIN attempts a INDEXED BY attempts_msg CROSS JOIN messages m';
        where.push('l.app_id = ?', 'l.kind = ?', 'l.value = ?', 'a.msg_id = l.msg_id', 'm.id = l.msg_id');
        params.push(appId, ...rare.label);
      } else if (rare?.eventTypes) {
        from = 'messages m INDEXED BY messages_app_type CROSS JOIN attempts a INDEXED BY attempts_msg';
        where.push('m.app_id = ?', 'a.msg_id = m.id');
        params.push(appId);
      }
      messageFilters('m', where, params, rare?.label ? rare.rest : query);
      return keysetPage(
        db,
        {
          select: `SELECT a.* FROM ${from}`,
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
          "UPDATE attempts SET response = 'EXPUNGED' WHERE id = ? AND app_id = ? AND msg_id = ?",
          attemptId,
          appId,
          msgId,
        ) > 0
      );
    },
  };
}
