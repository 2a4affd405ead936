/** The real implementations a node runs with when tests inject none. */
import { RaftCore } from '../core/index.js';
import type { RaftInitialState } from '../core/types.js';
import type { Logger } from '../kv/types.js';
import { FileStorage, MemoryStorage, type RaftStorage } from '../storage/index.js';
import { connectRpc, TcpTransport, type RaftTransport, type RpcClient } from '../transport/index.js';
import { toRaftConfig, type ResolvedOptions } from './options.js';

export function createStorage(o: ResolvedOptions, logger: Logger): RaftStorage {
  // resolveOptions let a node without data_dir through only with inMemoryForTests.
  return o.dataDir ? new FileStorage(o.dataDir, logger) : new MemoryStorage(logger);
}

export function createTransport(o: ResolvedOptions, logger: Logger): RaftTransport {
  return new TcpTransport({ selfAddr: o.selfAddr, bindAddr: o.bindAddr, password: o.password, clusterName: o.clusterName, logger });
}

export function createCore(o: ResolvedOptions, random: () => number, initial: RaftInitialState): RaftCore {
  return new RaftCore(toRaftConfig(o, random), initial);
}

export function dialRpc(addr: string, opts: { password: string | null; timeoutMs: number }): Promise<RpcClient> {
  return connectRpc(addr, { password: opts.password, timeoutMs: opts.timeoutMs });
}
