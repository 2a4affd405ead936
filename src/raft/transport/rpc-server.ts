/**
 * Serving requests on one established connection, without letting that connection flood the
 * node: at most MAX_IN_FLIGHT requests run at once (reading pauses beyond, so TCP pushes back on
 * the sender), and reading also pauses while answers are backed up in the socket (a client that
 * sends but never reads cannot make us buffer its answers without bound).
 */
import type { Logger } from '../kv/types.js';
import type { Channel } from './channel.js';
import { FrameKind } from './frame.js';
import { encodeRpcResponse } from './rpc-codec.js';
import type { RpcPayload } from './types.js';

export const MAX_IN_FLIGHT = 32;
/** Answers waiting in the socket beyond this pause reading until the kernel took them. */
const WRITE_HIGH_WATER_BYTES = 1024 * 1024;

export class RpcServer {
  private inFlight = 0;
  private waitingForDrain = false;

  constructor(
    private readonly ch: Channel,
    private readonly handler: () => ((req: RpcPayload) => Promise<RpcPayload>) | null,
    private readonly maxResponseBytes: number,
    private readonly logger: Logger,
  ) {}

  serve(id: number, body: RpcPayload): void {
    this.inFlight++;
    if (this.inFlight >= MAX_IN_FLIGHT) this.ch.pauseReading('requests in flight');
    void this.run(id, body).finally(() => {
      this.inFlight--;
      if (this.inFlight < MAX_IN_FLIGHT) this.ch.resumeReading('requests in flight');
    });
  }

  private async run(id: number, body: RpcPayload): Promise<void> {
    let ok = true;
    let result: RpcPayload;
    try {
      const handler = this.handler();
      if (handler === null) throw new Error('this node does not serve requests yet');
      result = await handler(body);
    } catch (err) {
      ok = false;
      result = { message: err instanceof Error ? err.message : String(err) };
    }
    if (this.ch.closed) return;
    let response: Buffer;
    try {
      response = encodeRpcResponse(id, ok, result);
    } catch (err) {
      response = encodeRpcResponse(id, false, { message: `response not serialisable: ${(err as Error).message}` });
    }
    // The client would close the connection on an oversize frame; tell it why instead.
    if (response.length + 64 > this.maxResponseBytes) {
      this.logger.warn(`raft: answer of ${response.length} bytes to ${this.ch.remote} exceeds the frame limit; sent an error instead`);
      response = encodeRpcResponse(id, false, { message: `response of ${response.length} bytes exceeds the frame limit` });
    }
    this.ch.send(FrameKind.RpcResponse, response);
    // Checked now, synchronously: answers to a burst of requests are all produced before the
    // channel's end-of-turn flush, so waiting for the socket's own signal would come too late.
    if (!this.waitingForDrain && this.ch.outgoingBytes >= WRITE_HIGH_WATER_BYTES) this.holdUntilWritten();
  }

  private holdUntilWritten(): void {
    this.waitingForDrain = true;
    this.ch.pauseReading('answers backed up');
    const done = () => {
      this.waitingForDrain = false;
      this.ch.resumeReading('answers backed up');
    };
    // After the flush: wait for 'drain' while the socket holds too much, else go on at once.
    setImmediate(() => {
      if (this.ch.closed) return;
      if (this.ch.writeBacklogBytes >= WRITE_HIGH_WATER_BYTES) this.ch.socket.once('drain', done);
      else done();
    });
  }
}
