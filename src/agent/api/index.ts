// Public surface of the agent's REST API (DESIGN.md "REST API").
export type * from './types.js';
export { ApiError } from './types.js';
export { ApiServer, ApiBindError, parseListen } from './server.js';
export { applyMergePatch } from './config-patch.js';
