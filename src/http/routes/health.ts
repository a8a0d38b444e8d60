import { type Api, noContent } from '../context.ts';

export function healthRoutes(api: Api): void {
  const options = {
    config: { public: true },
    schema: { tags: ['Health'], response: { 204: { type: 'null' } } },
  };
  api.get(
    '/health',
    { ...options, schema: { ...options.schema, operationId: 'v1.health.get' } },
    async (_r, reply) => noContent(reply),
  );
  api.get(
    '/health/ping',
    { ...options, schema: { ...options.schema, operationId: 'v1.health.ping' } },
    async (_r, reply) => noContent(reply),
  );
}
