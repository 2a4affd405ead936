// The admin side's view of a cluster (DESIGN.md src/client): settings, the REST client, typed errors.
export { ClusterClient, agentBaseUrl, DEFAULT_ACTION_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS, type ActionReply, type ClusterClientOptions, type ClusterSnapshot, type Unreachable } from './cluster-client.js';
export { AgentAuthFailed, AgentRefused, AgentUnreachable, ClientSettingsError, ClusterStateError, InvalidAgentResponse, NoAgentReachable } from './errors.js';
export { httpRequest, type Credentials, type HttpRequest, type HttpResponse, type TlsSettings } from '../protocol/index.js';
// The REST bodies the CLI renders (src/cli imports them from here, DESIGN.md's layer table).
export type * from '../protocol/bodies.js';
export { DEFAULT_CONFIG_FILE, normalizeAgentUrl, resolveClientSettings, type ClientFlags, type ClientSettings } from './settings.js';
export { connectCluster, type ConnectFlags } from './connect.js';
export { removeClusterKeys, type RemoveClusterOptions } from './raft-store.js';
