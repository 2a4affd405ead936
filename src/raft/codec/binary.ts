/**
 * Small binary writer/reader used by the journal and the wire codec. Numbers that can exceed 2^32
 * (indexes, terms) are written as 64-bit unsigned; reads are bounds-checked and throw
 * `CodecError` on truncated or malformed input, so a bad frame or record never crashes a node.
 */

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

export class Writer {
  private buf: Buffer;
  private pos = 0;

  constructor(initialBytes = 256) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + bytes) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  u64(v: number): this {
    this.ensure(8);
    this.buf.writeBigUInt64BE(BigInt(v), this.pos);
    this.pos += 8;
    return this;
  }

  bytes(v: Uint8Array): this {
    this.u32(v.length);
    this.ensure(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
    return this;
  }

  str(v: string): this {
    return this.bytes(Buffer.from(v, 'utf8'));
  }

  /** Nullable string: a presence byte then the string. */
  optStr(v: string | null): this {
    if (v === null) return this.u8(0);
    return this.u8(1).str(v);
  }

  strList(v: readonly string[]): this {
    this.u32(v.length);
    for (const s of v) this.str(s);
    return this;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export class Reader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  private need(bytes: number, what: string): void {
    if (this.pos + bytes > this.buf.length) {
      throw new CodecError(`truncated input reading ${what} at byte ${this.pos} of ${this.buf.length}`);
    }
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(what = 'u64'): number {
    this.need(8, what);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CodecError(`${what} out of range: ${v}`);
    return Number(v);
  }

  bytes(what = 'bytes'): Buffer {
    const len = this.u32(`${what} length`);
    this.need(len, what);
    const v = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return v;
  }

  str(what = 'string'): string {
    return this.bytes(what).toString('utf8');
  }

  optStr(what = 'string'): string | null {
    return this.u8(`${what} presence`) === 0 ? null : this.str(what);
  }

  strList(what = 'list'): string[] {
    const n = this.u32(`${what} count`);
    if (n > this.buf.length - this.pos) throw new CodecError(`${what} count ${n} exceeds input`);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.str(what));
    return out;
  }

  get done(): boolean {
    return this.pos === this.buf.length;
  }

  /** Throws unless every byte was consumed: trailing garbage means a malformed record. */
  end(what: string): void {
    if (!this.done) throw new CodecError(`${this.buf.length - this.pos} trailing bytes after ${what}`);
  }
}
