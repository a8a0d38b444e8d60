import diagnostics from 'node:diagnostics_channel';
import type { EventMap, EventName } from '../core/events.ts';

const channels = new Map<EventName, diagnostics.Channel>();

function channel(name: EventName): diagnostics.Channel {
  let ch = channels.get(name);
  if (!ch) {
    ch = diagnostics.channel(`doorbell:${name}`);
    channels.set(name, ch);
  }
  return ch;
}

export function emit<K extends EventName>(name: K, data: EventMap[K]): void {
  const ch = channel(name);
  if (ch.hasSubscribers) ch.publish(data);
}

export function subscribe<K extends EventName>(name: K, fn: (data: EventMap[K]) => void): () => void {
  const handler = (data: unknown) => fn(data as EventMap[K]);
  diagnostics.subscribe(`doorbell:${name}`, handler);
  return () => diagnostics.unsubscribe(`doorbell:${name}`, handler);
}
