// What the Svix SDK can ask for that Doorbell does not do: refused by name (422), never silently dropped.
import { invalid } from '../core/errors.ts';

const WHY = {
  groupName: 'event type groups are not supported',
  sessionId: 'app-portal sessions are not supported',
  sessionIds: 'app-portal sessions are not supported',
  exclude_apps_with_no_endpoints: 'applications are listed whatever their endpoints',
  exclude_apps_with_disabled_endpoints: 'applications are listed whatever their endpoints',
  code: 'transformations are not supported',
  enabled: 'transformations are not supported',
  variables: 'transformations are not supported',
  connectors: 'connectors are not supported',
  settings: 'environment settings are not supported',
  secret: "a PUT does not set an endpoint's secret: give it to the POST that creates it, or rotate it",
  headers:
    "a PUT does not set an endpoint's headers: give them to the POST that creates it, or use its headers route",
} as const;

/** Unset, as the SDK sends what its caller left out: absent, null, false, '', [] or {}. */
function isSet(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === '') return false;
  return typeof value !== 'object' || Object.keys(value).length > 0;
}

/**
 * Checked before anything is written: the first field that is set is a 422 naming it, within `at`
 * ('body', 'query', or where in the body the object is).
 */
export function refuseUnsupported(
  at: 'body' | 'query' | readonly string[],
  given: Partial<Record<keyof typeof WHY, unknown>>,
): void {
  const loc = typeof at === 'string' ? [at] : at;
  for (const [field, value] of Object.entries(given)) {
    if (isSet(value)) throw invalid([...loc, field], WHY[field as keyof typeof WHY]);
  }
}
