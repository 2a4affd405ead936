export type { RaftTransport, RpcClient, RpcPayload, TransportOptions } from './types.js';
export { TcpTransport } from './tcp.js';
export type { PeerLinkStatus } from './peer-link.js';
export { connectRpc, type ConnectRpcOptions } from './rpc-client.js';
export { ListenFailed, RaftAuthFailed, RaftNodeUnreachable, RpcFailed, RpcTimedOut } from './errors.js';
export { DEFAULT_MAX_FRAME_BYTES } from './frame.js';
