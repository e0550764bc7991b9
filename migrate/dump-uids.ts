/**
 * The host ids in a CRIU dump, rewritten so that it restores into another uid range: the user
 * namespace's maps (userns-ID.img, images/userns.proto) and the owners of cgroup directories and
 * files (cgroup.img, images/cgroup.proto: only with --manage-cgroups other than ignore; stat()ed
 * on the host by criu/cgroup.c). CRIU stores every other id it dumps (creds, ghost and memfd
 * files, IPC objects, tty, socket and fown owners, loginuid, mount options, the tmpfs archives
 * made inside the namespace) relative to the namespace: userns_uid() in criu/namespaces.c.
 *
 * Format (criu/image.c, criu/include/magic.h): u32 IMG_COMMON_MAGIC, u32 USERNS_MAGIC, then one
 * entry: u32 length, a protobuf userns_entry { repeated uid_gid_extent uid_map = 1;
 * repeated uid_gid_extent gid_map = 2 }, uid_gid_extent { uint32 first = 1; lower_first = 2;
 * count = 3 }. Two small messages: coded here rather than with a protobuf library; anything
 * else in the file (an unknown field, a second entry) is refused, never passed on half-read.
 */
import fs from 'node:fs';
import path from 'node:path';
import { VzError } from '../src/base/errors.js';

const IMG_COMMON_MAGIC = 0x54564319;
const USERNS_MAGIC = 0x55474906;
const CGROUP_MAGIC = 0x59383330;
const MAX_IMAGE = 4 << 20; // a cgroup.img of a big systemd tree stays far below

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

/** One entry of an image, after its two magics: its protobuf message. */
function oneEntry(img: Buffer, magic: number, what: string): Buffer {
  if (img.length < 12 || img.readUInt32LE(0) !== IMG_COMMON_MAGIC || img.readUInt32LE(4) !== magic) bad(`${what}: bad magic`);
  if (12 + img.readUInt32LE(8) !== img.length) bad(`${what}: not exactly one entry`);
  return img.subarray(12);
}

function withHead(magic: number, body: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt32LE(IMG_COMMON_MAGIC, 0);
  head.writeUInt32LE(magic, 4);
  head.writeUInt32LE(body.length, 8);
  return Buffer.concat([head, body]);
}

/**
 * A protobuf message as its fields, unparsed below the top (wire format only), so a message
 * whose schema is only partly known here is written back exactly as it came, but for the
 * fields changed. Varints as bigint (uint64 values keep every bit).
 */
type RawField = { no: number; wire: 0; v: bigint } | { no: number; wire: 1 | 2 | 5; b: Buffer };

function readVarint64(b: Buffer, at: { i: number }): bigint {
  let v = 0n;
  for (let shift = 0n; shift < 70n; shift += 7n) {
    if (at.i >= b.length) bad('truncated varint');
    const byte = b[at.i++]!;
    v |= BigInt(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return v;
  }
  return bad('varint too long');
}

function writeVarint64(v: bigint, out: number[]): void {
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v ? low | 0x80 : low);
  } while (v);
}

function parseRaw(b: Buffer): RawField[] {
  const out: RawField[] = [];
  const at = { i: 0 };
  while (at.i < b.length) {
    const key = readVarint64(b, at);
    const no = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) out.push({ no, wire, v: readVarint64(b, at) });
    else if (wire === 1 || wire === 5 || wire === 2) {
      const n = wire === 1 ? 8 : wire === 5 ? 4 : Number(readVarint64(b, at));
      if (at.i + n > b.length) bad('truncated field');
      out.push({ no, wire, b: b.subarray(at.i, at.i + n) });
      at.i += n;
    } else bad(`wire type ${wire}`);
  }
  return out;
}

function encodeRaw(fields: RawField[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) {
    const head: number[] = [];
    writeVarint64((BigInt(f.no) << 3n) | BigInt(f.wire), head);
    if (f.wire === 0) {
      writeVarint64(f.v, head);
      parts.push(Buffer.from(head));
    } else {
      if (f.wire === 2) writeVarint64(BigInt(f.b.length), head);
      parts.push(Buffer.from(head), f.b);
    }
  }
  return Buffer.concat(parts);
}

/** Rewrites the submessages numbered `no` of a message with `fn`; returns whether any changed. */
function eachSub(fields: RawField[], no: number, fn: (sub: RawField[]) => boolean): boolean {
  let changed = false;
  for (const f of fields) {
    if (f.no !== no || f.wire !== 2) continue;
    const sub = parseRaw(f.b);
    if (fn(sub)) {
      f.b = encodeRaw(sub);
      changed = true;
    }
  }
  return changed;
}

/**
 * cgroup.img with the owners of its directories and files moved by `shift` (an id in the
 * container's old range -> the new one; others, such as host root's, stay). cgroup_entry
 * .controllers(2) .dirs(2) cgroup_dir_entry { children(2) recursive, properties(3) .perms(3),
 * dir_perms(4) }, cgroup_perms { mode 1, uid 2, gid 3 }. Undefined when nothing changed.
 */
export function shiftCgroupImage(img: Buffer, shift: (id: number) => number): Buffer | undefined {
  const top = parseRaw(oneEntry(img, CGROUP_MAGIC, 'cgroup image'));
  const perms = (p: RawField[]) => {
    let changed = false;
    for (const f of p) {
      if ((f.no === 2 || f.no === 3) && f.wire === 0) {
        const to = BigInt(shift(Number(f.v)));
        if (to !== f.v) {
          f.v = to;
          changed = true;
        }
      }
    }
    return changed;
  };
  const dir = (d: RawField[]): boolean => {
    const a = eachSub(d, 2, dir);
    const b = eachSub(d, 3, (prop) => eachSub(prop, 3, perms));
    const c = eachSub(d, 4, perms);
    return a || b || c;
  };
  const changed = eachSub(top, 2, (ctl) => eachSub(ctl, 2, dir));
  return changed ? withHead(CGROUP_MAGIC, encodeRaw(top)) : undefined;
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
function readSmall(file: string): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > MAX_IMAGE) bad(`${path.basename(file)} is not a regular file of at most ${MAX_IMAGE} bytes`);
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function dumpUidBase(dir: string, size: number): number {
  const m = decodeUserns(readSmall(usernsImage(dir)));
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
  const replace = (file: string, data: Buffer) => {
    fs.writeFileSync(`${file}.tmp`, data, { mode: 0o600 });
    fs.renameSync(`${file}.tmp`, file);
  };
  const cg = path.join(dir, 'cgroup.img');
  if (fs.existsSync(cg)) {
    const shifted = shiftCgroupImage(readSmall(cg), (id) => (id >= old && id < old + size ? base + id - old : id));
    if (shifted) replace(cg, shifted);
  }
  const ext = [{ first: 0, lowerFirst: base, count: size }];
  replace(usernsImage(dir), encodeUserns({ uid: ext, gid: ext }));
  return old;
}
