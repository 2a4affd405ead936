// WAL positions (LSNs) are bigint inside hactl and `0/D9000000` text at the edges (SQL, pg_controldata, logs).

const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** Parses `X/Y` (two hex halves of up to 8 digits). Throws on anything else. */
export function parseLsn(text: string): bigint {
  const match = LSN_PATTERN.exec(text.trim());
  if (!match) throw new Error(`not an LSN: ${JSON.stringify(text)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Like parseLsn, but null/undefined/'' (what SQL returns on a primary for replay LSNs) stay null. */
export function parseLsnOrNull(text: string | null | undefined): bigint | null {
  if (text === null || text === undefined || text === '') return null;
  return parseLsn(text);
}

/** Formats as PostgreSQL does: upper-case hex halves without leading zeros, e.g. `0/D9000000`. */
export function formatLsn(lsn: bigint): string {
  if (lsn < 0n || lsn > 0xffffffffffffffffn) throw new Error(`LSN out of range: ${lsn}`);
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Bytes from `from` to `to`, never negative (a replica ahead of a stale primary position counts as 0 lag). */
export function lsnDiffBytes(to: bigint, from: bigint): bigint {
  return to > from ? to - from : 0n;
}
