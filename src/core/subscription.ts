// Which endpoints a message goes to (Svix semantics for event-type filters and channels).

import type { Endpoint, Message } from './types.ts';

/**
 * A disabled endpoint gets nothing. No filterTypes (null or empty) means every event type.
 * No channels on the endpoint means every message; otherwise the message must carry at least one of
 * the endpoint's channels, so a message without channels skips an endpoint that has some.
 */
export function matches(
  endpoint: Pick<Endpoint, 'disabled' | 'filterTypes' | 'channels'>,
  message: Pick<Message, 'eventType' | 'channels'>,
): boolean {
  if (endpoint.disabled) return false;
  const { filterTypes, channels } = endpoint;
  if (filterTypes && filterTypes.length > 0 && !filterTypes.includes(message.eventType)) return false;
  if (!channels || channels.length === 0) return true;
  return message.channels?.some((channel) => channels.includes(channel)) ?? false;
}
