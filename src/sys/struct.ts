/**
 * Kernel structs as data. A layout names its C struct and the header that declares it, its size,
 * and every field vzkit reads or writes, with the field's offset and type (the 64-bit
 * little-endian Linux ABI). One encoder and one decoder serve every struct, and
 * test/unit/sys/layouts.test.ts compiles a C program against the real headers to check each
 * size, offset, width and signedness written here: a layout is never "checked by hand".
 */

export type FieldType = 'u8' | 's8' | 'u16' | 'u32' | 's32' | 'u64' | 'chars';

export interface Field<T extends FieldType = FieldType> {
  /** The C member designator: `lo_offset`, or `info.lo_offset` inside an embedded struct. */
  c: string;
  offset: number;
  type: T;
  /** chars: the array's length; holds a NUL-terminated string of at most length - 1 bytes. */
  length?: number;
}

export interface Layout<F extends Record<string, Field> = Record<string, Field>> {
  /** The C struct's tag: `loop_config` is `struct loop_config`. */
  name: string;
  /** What a C file includes to declare it: `<linux/loop.h>`. */
  header: string;
  /** A macro that the header defines only where it has this struct (newer than the build host's headers). */
  guard?: string;
  size: number;
  fields: F;
}

type ValueOf<T extends FieldType> = T extends 'u64' ? bigint : T extends 'chars' ? string : number;

/** What a layout decodes to: u64 fields as bigint, char arrays as strings, the rest as numbers. */
export type Values<L extends Layout> = { -readonly [K in keyof L['fields']]: ValueOf<L['fields'][K]['type']> };

export function layout<const F extends Record<string, Field>>(
  name: string,
  header: string,
  size: number,
  fields: F,
  opts: { guard?: string } = {},
): Layout<F> {
  return { name, header, size, fields, ...opts };
}

export const u8 = (c: string, offset: number): Field<'u8'> => ({ c, offset, type: 'u8' });
export const s8 = (c: string, offset: number): Field<'s8'> => ({ c, offset, type: 's8' });
export const u16 = (c: string, offset: number): Field<'u16'> => ({ c, offset, type: 'u16' });
export const u32 = (c: string, offset: number): Field<'u32'> => ({ c, offset, type: 'u32' });
export const s32 = (c: string, offset: number): Field<'s32'> => ({ c, offset, type: 's32' });
export const u64 = (c: string, offset: number): Field<'u64'> => ({ c, offset, type: 'u64' });
export const chars = (c: string, offset: number, length: number): Field<'chars'> => ({ c, offset, type: 'chars', length });

/** The fields of a struct embedded as member `member` at `offset` of another one. */
export function embed<const F extends Record<string, Field>>(member: string, offset: number, fields: F): F {
  const out: Record<string, Field> = {};
  for (const [k, f] of Object.entries(fields)) out[k] = { ...f, c: `${member}.${f.c}`, offset: offset + f.offset };
  return out as F;
}

type Scalar = Exclude<FieldType, 'chars'>;

/** How each scalar type is read and written (little endian); u32 takes negative numbers as C does. */
const SCALAR: Record<Scalar, { get(b: Buffer, o: number): number | bigint; set(b: Buffer, o: number, x: never): void }> = {
  u8: { get: (b, o) => b.readUInt8(o), set: (b, o, x: number) => void b.writeUInt8(x, o) },
  s8: { get: (b, o) => b.readInt8(o), set: (b, o, x: number) => void b.writeInt8(x, o) },
  u16: { get: (b, o) => b.readUInt16LE(o), set: (b, o, x: number) => void b.writeUInt16LE(x, o) },
  u32: { get: (b, o) => b.readUInt32LE(o), set: (b, o, x: number) => void b.writeUInt32LE(x >>> 0, o) },
  s32: { get: (b, o) => b.readInt32LE(o), set: (b, o, x: number) => void b.writeInt32LE(x, o) },
  u64: { get: (b, o) => b.readBigUInt64LE(o), set: (b, o, x: bigint) => void b.writeBigUInt64LE(x, o) },
};

/** The struct as bytes: the fields given, everything else (padding, reserved, unset fields) zero. */
export function encode<L extends Layout>(l: L, v: Partial<Values<L>>): Buffer {
  const b = Buffer.alloc(l.size);
  for (const [k, f] of Object.entries(l.fields)) {
    const x = (v as Record<string, unknown>)[k];
    if (x === undefined) continue;
    if (f.type === 'chars') {
      Buffer.from(x as string, 'utf8')
        .subarray(0, f.length! - 1)
        .copy(b, f.offset);
    } else SCALAR[f.type].set(b, f.offset, x as never);
  }
  return b;
}

/** The struct's fields from bytes (as the kernel filled them). */
export function decode<L extends Layout>(l: L, b: Buffer): Values<L> {
  if (b.length < l.size) throw new RangeError(`${l.name} needs ${l.size} bytes, got ${b.length}`);
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(l.fields)) {
    if (f.type === 'chars') {
      const bytes = b.subarray(f.offset, f.offset + f.length!);
      const nul = bytes.indexOf(0);
      out[k] = bytes.subarray(0, nul < 0 ? bytes.length : nul).toString('utf8');
    } else out[k] = SCALAR[f.type].get(b, f.offset);
  }
  return out as Values<L>;
}

/** Whether a module export is a layout (the layout test finds them all this way). */
export function isLayout(x: unknown): x is Layout {
  const l = x as Layout | undefined;
  return typeof l === 'object' && l !== null && typeof l.name === 'string' && typeof l.header === 'string' && typeof l.size === 'number' && typeof l.fields === 'object';
}
