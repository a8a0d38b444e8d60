// Attempts: the history of every HTTP try, listed per message, per endpoint or per application.
// Lookups by id name the partition through the time the id embeds.

import { attemptStatusTerms, filtersMessages, toAttempt } from '../rows.ts';
import type { Store } from '../store.ts';
import { idTime } from './id-time.ts';
import { keysetPage } from './paginate.ts';
import { messageFilters, Params, type Pg, stmt, timeFilters, withMessage } from './pg.ts';
import { rareFilterOf } from './rare-filter.ts';

const GET = stmt('SELECT * FROM attempts WHERE id = $1 AND created_at = $2 AND app_id = $3 AND msg_id = $4');
const EXPUNGE = stmt(
  "UPDATE attempts SET response = 'EXPUNGED' WHERE id = $1 AND created_at = $2 AND app_id = $3 AND msg_id = $4",
);

export function attemptsSql(db: Pg): Store['attempts'] {
  return {
    async get(appId, msgId, attemptId) {
      const at = idTime(attemptId);
      const row = at === null ? undefined : await db.one(GET, [attemptId, at, appId, msgId]);
      return row ? toAttempt(row) : null;
    },
    async list(appId, query) {
      const joinMessages = filtersMessages(query);
      // Filtered by what few messages have, through those messages, each one's attempts found by its id
      // in the days since it (a fenced lateral subquery: see withMessage), and sorted; a message's own
      // attempts are few.
      const rare = joinMessages && query.msgId == null ? await rareFilterOf(db, appId, query) : null;
      const p = new Params();
      const app = p.add(appId);
      const where = [`a.app_id = ${app}`];
      if (query.msgId != null) {
        where.push(`a.msg_id = ${p.add(query.msgId)}`);
        // The message's attempts are no older than the message.
        const at = idTime(query.msgId);
        if (at !== null) where.push(`a.created_at >= ${p.add(at)}`);
      }
      if (query.endpointId != null) where.push(`a.endpoint_id = ${p.add(query.endpointId)}`);
      where.push(...attemptStatusTerms(query));
      timeFilters('a.created_at', where, p, query);
      const attemptsOf = (msgId: string, at: string) => `CROSS JOIN LATERAL (SELECT * FROM attempts a
        WHERE a.msg_id = ${msgId} AND a.created_at >= ${at} OFFSET 0) a`;
      // Filtered by what many messages have, each attempt's message is found by its key until the page
      // is full (see withMessage).
      let from = `attempts a${joinMessages ? ` ${withMessage('a', 'msg_created_at')}` : ''}`;
      if (rare?.label) {
        from = `message_labels l ${attemptsOf('l.msg_id', 'l.created_at')} ${withMessage('l', 'created_at')}`;
        where.push(
          `l.app_id = ${app}`,
          `l.kind = ${p.add(rare.label[0])}`,
          `l.value = ${p.add(rare.label[1])}`,
        );
      } else if (rare?.eventTypes) {
        from = `messages m ${attemptsOf('m.id', 'm.created_at')}`;
        where.push(`m.app_id = ${app}`);
      }
      messageFilters('m', where, p, rare?.rest ?? query);
      return keysetPage(
        db,
        {
          select: `SELECT a.* FROM ${from}`,
          where,
          params: p,
          key: 'a.id',
          keyOf: (r) => r.id as string,
          page: query,
          defaultOrder: 'descending',
          timeColumn: 'a.created_at',
          ...(rare?.eventTypes ? { oneOf: { column: 'm.event_type', values: rare.eventTypes } } : {}),
        },
        toAttempt,
      );
    },
    async expungeContent(appId, msgId, attemptId) {
      const at = idTime(attemptId);
      return at !== null && (await db.run(EXPUNGE, [attemptId, at, appId, msgId])) > 0;
    },
  };
}
