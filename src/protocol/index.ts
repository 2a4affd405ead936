// The REST wire contract (DESIGN.md src/protocol): bodies, their decoder, the HTTP client. Imports nothing of ours.
export type * from './bodies.js';
export { decodeClusterJson, decodeFailoverCandidates, decodeHistory, decodeJson, decodeMemberStatus, decodeObject } from './decode.js';
export { AgentUnreachable, InvalidAgentResponse, InvalidAgentUrl } from './errors.js';
export { describeNetworkError, httpRequest, type Credentials, type HttpRequest, type HttpResponse, type TlsSettings } from './http.js';
