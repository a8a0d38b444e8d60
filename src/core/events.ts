// The observability contract: what the engine reports. Metrics, logs and operational webhooks subscribe;
// domain code only publishes. Channels cost nothing without subscribers (node:diagnostics_channel).

export interface EventMap {
  'message:published': { appId: string; msgId: string; eventType: string; endpoints: number };
  'attempt:finished': {
    appId: string;
    msgId: string;
    endpointId: string;
    status: 'success' | 'fail';
    statusCode: number;
    durationMs: number;
    next: 'success' | 'pending' | 'fail';
  };
  'endpoint:disabled': { appId: string; endpointId: string; reason: string };
}

export type EventName = keyof EventMap;
