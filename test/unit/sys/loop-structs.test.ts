/**
 * Byte layout of struct loop_config / loop_info64 and the ioctl numbers, against values worked
 * out by hand from <linux/loop.h> (x86_64); test/unit/sys/layouts.test.ts checks the same
 * layouts against the header with gcc.
 */
import { describe, expect, it } from 'vitest';
import {
  encodeLoopConfig,
  decodeLoopInfo64,
  LOOP_CONFIG,
  LOOP_INFO64,
  LOOP_CONFIG_INFO_OFFSET,
  LOOP_CLR_FD,
  LOOP_GET_STATUS64,
  LOOP_SET_CAPACITY,
  LOOP_CONFIGURE,
  LOOP_CTL_GET_FREE,
  LO_FLAGS_AUTOCLEAR,
  LO_FLAGS_READ_ONLY,
} from '../../../src/sys/loop.js';

describe('loop ioctl numbers', () => {
  it('match <linux/loop.h>', () => {
    expect(LOOP_CLR_FD).toBe(0x4c01);
    expect(LOOP_GET_STATUS64).toBe(0x4c05);
    expect(LOOP_SET_CAPACITY).toBe(0x4c07);
    expect(LOOP_CONFIGURE).toBe(0x4c0a);
    expect(LOOP_CTL_GET_FREE).toBe(0x4c82);
    expect(LO_FLAGS_READ_ONLY).toBe(1);
    expect(LO_FLAGS_AUTOCLEAR).toBe(4);
  });
});

describe('encodeLoopConfig', () => {
  it('is 304 bytes with fd, block_size and the loop_info64 at 8', () => {
    const b = encodeLoopConfig({ fd: 7, blockSize: 4096, flags: LO_FLAGS_AUTOCLEAR, fileName: '/x/root.img', offset: 0x1122334455n, sizelimit: 2n ** 40n });
    expect(b.length).toBe(LOOP_CONFIG.size);
    expect(LOOP_CONFIG_INFO_OFFSET).toBe(8);
    expect(b.readUInt32LE(0)).toBe(7);
    expect(b.readUInt32LE(4)).toBe(4096);
    expect(b.readBigUInt64LE(8 + 24)).toBe(0x1122334455n); // lo_offset
    expect(b.readBigUInt64LE(8 + 32)).toBe(2n ** 40n); // lo_sizelimit
    expect(b.readUInt32LE(8 + 52)).toBe(4); // lo_flags
    expect(b.subarray(8 + 56, 8 + 56 + 11).toString()).toBe('/x/root.img'); // lo_file_name
    expect(b[8 + 56 + 11]).toBe(0);
    // lo_device, lo_inode, lo_rdevice (output only), the rest of info and __reserved stay zero
    expect(b.subarray(8, 8 + 24).every((x) => x === 0)).toBe(true);
    expect(b.subarray(240).every((x) => x === 0)).toBe(true);
  });

  it('defaults to zeros and truncates a long file name leaving its NUL', () => {
    const b = encodeLoopConfig({ fd: 3, fileName: 'a'.repeat(100) });
    expect(b.readUInt32LE(4)).toBe(0);
    expect(b.readUInt32LE(8 + 52)).toBe(0);
    expect(b.subarray(8 + 56, 8 + 56 + 63).toString()).toBe('a'.repeat(63));
    expect(b[8 + 56 + 63]).toBe(0);
    expect(b[8 + 120]).toBe(0); // lo_crypt_name untouched
  });
});

describe('decodeLoopInfo64', () => {
  it('reads the fields LOOP_GET_STATUS64 fills', () => {
    const b = Buffer.alloc(LOOP_INFO64.size);
    b.writeBigUInt64LE(0x803n, 0);
    b.writeBigUInt64LE(12345n, 8);
    b.writeBigUInt64LE(512n, 24);
    b.writeBigUInt64LE(0n, 32);
    b.writeUInt32LE(3, 40);
    b.writeUInt32LE(LO_FLAGS_AUTOCLEAR, 52);
    b.write('/img', 56);
    expect(decodeLoopInfo64(b)).toEqual({ device: 0x803n, inode: 12345n, offset: 512n, sizelimit: 0n, number: 3, flags: 4, fileName: '/img' });
  });

  it('round-trips the info part of an encoded loop_config', () => {
    const c = encodeLoopConfig({ fd: 1, flags: 5, fileName: '/p/root.img', offset: 4096n });
    const info = decodeLoopInfo64(c.subarray(8, 8 + LOOP_INFO64.size));
    expect(info.flags).toBe(5);
    expect(info.offset).toBe(4096n);
    expect(info.fileName).toBe('/p/root.img');
  });
});
