/** The etcd requests the store is built from: compares and puts on keys, and prefix ranges. */
import type { ICompare, IRequestOp } from 'etcd3';

export const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

/** The key does not exist. */
export function absent(key: string): ICompare {
  return { key: buf(key), target: 'Create', result: 'Equal', create_revision: 0 };
}

/** The key holds exactly `value`. */
export function holds(key: string, value: string): ICompare {
  return { key: buf(key), target: 'Value', result: 'Equal', value: buf(value) };
}

/** The key was written on `lease` (issue 17: a lease is one process's own, so this names the exact writer). */
export function onLease(key: string, lease: string): ICompare {
  return { key: buf(key), target: 'Lease', result: 'Equal', lease };
}

/** `ifVersion`: 0 = only if absent, else only at that mod_revision. */
export function atVersion(key: string, ifVersion: number): ICompare {
  return ifVersion === 0 ? absent(key) : { key: buf(key), target: 'Mod', result: 'Equal', mod_revision: ifVersion };
}

export function putOp(key: string, value: string, lease?: string): IRequestOp {
  return { request_put: lease === undefined ? { key: buf(key), value: buf(value) } : { key: buf(key), value: buf(value), lease } };
}

/** etcd's range end for "every key starting with `prefix`": the prefix with its last byte incremented. */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix, 'utf8');
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all 0xff: to the end of the keyspace
}
