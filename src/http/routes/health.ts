import type { Store } from '../../store/store.ts';
import { type Api, noContent } from '../context.ts';

/**
 * GET /health is readiness: it reads from the database, so it answers 503 while the database is
 * unreachable. GET /health/ping is liveness: the process answers, whatever the database does. Both
 * answer HEAD too (fastify adds it to every GET route), and the document lists it on these two, as the
 * reference does: a HEAD runs the same handler, so it answers what its GET does, without a body.
 */
export function healthRoutes(api: Api, store: Store): void {
  const schema = { tags: ['Health'], response: { 204: { type: 'null' } } };
  const swagger = { exposeHeadRoute: true }; // documented as `<operationId>-head`: ids stay unique
  api.get(
    '/health',
    {
      config: { public: true, errors: [503], swagger },
      schema: { ...schema, operationId: 'v1.health.get' },
    },
    async (_r, reply) => {
      await store.settings.get('health');
      return noContent(reply);
    },
  );
  api.get(
    '/health/ping',
    { config: { public: true, swagger }, schema: { ...schema, operationId: 'v1.health.ping' } },
    async (_r, reply) => noContent(reply),
  );
}
