#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx (a runtime dependency).
import { register } from 'tsx/esm/api';

register();
await import('../src/bin/doorbell.ts');
