/**
 * The user namespace's maps in a CRIU dump (userns-ID.img, images/userns.proto), read and
 * rewritten so that a dump restores into another uid range: the only host ids in a dump. CRIU
 * stores every other id it dumps (creds, ghost and memfd files, IPC objects, tty and socket
 * owners, mount options, the tmpfs archives made inside the namespace) relative to the
 * namespace: userns_uid() in criu/namespaces.c.
 *
 * Format (criu/image.c, criu/include/magic.h): u32 IMG_COMMON_MAGIC, u32 USERNS_MAGIC, then one
 * entry: u32 length, a protobuf userns_entry { repeated uid_gid_extent uid_map = 1;
 * repeated uid_gid_extent gid_map = 2 }, uid_gid_extent { uint32 first = 1; lower_first = 2;
 * count = 3 }. Two small messages: coded here rather than with a protobuf library; anything
 * else in the file (an unknown field, a second entry) is refused, never passed on half-read.
 */
import fs from 'node:fs';
import path from 'node:path';
import { VzError } from '../src/core/errors.js';

const IMG_COMMON_MAGIC = 0x54564319;
const USERNS_MAGIC = 0x55474906;
const MAX_IMAGE = 64 << 10;

export interface UidGidExtent {
  first: number;
  lowerFirst: number;
  count: number;
}

export interface UsernsMaps {
  uid: UidGidExtent[];
  gid: UidGidExtent[];
}

function bad(why: string): never {
  throw new VzError('RESTORE', `userns image: ${why}`);
}

function readVarint(b: Buffer, at: { i: number }, end: number): number {
  let v = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (at.i >= end) bad('truncated varint');
    const byte = b[at.i++]!;
    v += (byte & 0x7f) * 2 ** shift;
    if (!(byte & 0x80)) {
      if (v > 0xffffffff) bad('a value does not fit uint32');
      return v;
    }
  }
  return bad('varint too long');
}

function writeVarint(v: number, out: number[]): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) bad(`value ${v} does not fit uint32`);
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

function decodeExtent(b: Buffer, start: number, end: number): UidGidExtent {
  const at = { i: start };
  const f: Record<number, number> = {};
  while (at.i < end) {
    const key = readVarint(b, at, end);
    const field = key >>> 3;
    if ((key & 7) !== 0 || field < 1 || field > 3) bad(`unexpected field ${field} (wire type ${key & 7}) in an extent`);
    f[field] = readVarint(b, at, end);
  }
  if (f[1] === undefined || f[2] === undefined || f[3] === undefined) bad('an extent lacks a required field');
  return { first: f[1], lowerFirst: f[2], count: f[3] };
}

export function decodeUserns(img: Buffer): UsernsMaps {
  if (img.length < 12 || img.readUInt32LE(0) !== IMG_COMMON_MAGIC || img.readUInt32LE(4) !== USERNS_MAGIC) bad('bad magic');
  const len = img.readUInt32LE(8);
  if (12 + len !== img.length) bad('not exactly one entry');
  const maps: UsernsMaps = { uid: [], gid: [] };
  const at = { i: 12 };
  while (at.i < img.length) {
    const key = readVarint(img, at, img.length);
    const field = key >>> 3;
    if ((key & 7) !== 2 || (field !== 1 && field !== 2)) bad(`unexpected field ${field} (wire type ${key & 7})`);
    const n = readVarint(img, at, img.length);
    if (at.i + n > img.length) bad('truncated extent');
    (field === 1 ? maps.uid : maps.gid).push(decodeExtent(img, at.i, at.i + n));
    at.i += n;
  }
  return maps;
}

export function encodeUserns(maps: UsernsMaps): Buffer {
  const body: number[] = [];
  for (const [field, list] of [
    [1, maps.uid],
    [2, maps.gid],
  ] as const) {
    for (const e of list) {
      const m: number[] = [];
      m.push(0x08);
      writeVarint(e.first, m);
      m.push(0x10);
      writeVarint(e.lowerFirst, m);
      m.push(0x18);
      writeVarint(e.count, m);
      body.push((field << 3) | 2);
      writeVarint(m.length, body);
      body.push(...m);
    }
  }
  const head = Buffer.alloc(12);
  head.writeUInt32LE(IMG_COMMON_MAGIC, 0);
  head.writeUInt32LE(USERNS_MAGIC, 4);
  head.writeUInt32LE(body.length, 8);
  return Buffer.concat([head, Buffer.from(body)]);
}

/** The dump's userns image (one: CRIU cannot dump nested user namespaces). */
function usernsImage(dir: string): string {
  const names = fs.readdirSync(dir).filter((n) => /^userns-\d+\.img$/.test(n));
  if (names.length !== 1) bad(`${names.length} userns images in ${dir}, expected one`);
  return path.join(dir, names[0]!);
}

/** The host uid base of a vzkit container's dump: its maps are one extent 0 -> base, `size` ids. */
export function dumpUidBase(dir: string, size: number): number {
  const fd = fs.openSync(usernsImage(dir), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  let img: Buffer;
  try {
    if (!fs.fstatSync(fd).isFile() || fs.fstatSync(fd).size > MAX_IMAGE) bad('not a small regular file');
    img = fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  const m = decodeUserns(img);
  const one = (l: UidGidExtent[]) => l.length === 1 && l[0]!.first === 0 && l[0]!.count === size;
  if (!one(m.uid) || !one(m.gid) || m.uid[0]!.lowerFirst !== m.gid[0]!.lowerFirst) {
    const show = (l: UidGidExtent[]) => l.map((e) => `${e.first} ${e.lowerFirst} ${e.count}`).join(', ');
    bad(`maps are not one range of ${size} ids from 0 (uid: ${show(m.uid)}; gid: ${show(m.gid)})`);
  }
  return m.uid[0]!.lowerFirst;
}

/**
 * Moves the dump's maps to `base` (the container's range on this node). Returns the old base.
 * Written to a new file and renamed: a failure leaves the old image, never half a new one.
 */
export function rebaseDump(dir: string, base: number, size: number): number {
  const old = dumpUidBase(dir, size);
  if (old === base) return old;
  const file = usernsImage(dir);
  const ext = [{ first: 0, lowerFirst: base, count: size }];
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, encodeUserns({ uid: ext, gid: ext }), { mode: 0o600 });
  fs.renameSync(tmp, file);
  return old;
}
