export type { AdminOp, AdminRequest, AdminResponse, AdminStatus, MemberInfo, MembershipResult, RpcErrorBody, StatusValue, TransferResult } from './protocol.js';
export { STATE_CODE } from './protocol.js';
export { RaftAdminClient, withAdminClient, type AdminClientOptions } from './client.js';
