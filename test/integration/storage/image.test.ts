/**
 * The image storage driver and loop devices, for real (root): ext4 in a sparse file on an
 * autoclear loop device. Each test works in its own temp dir and removes every mount, loop
 * device and file it made, even when it fails; afterEach checks that nothing is left.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageDriver, hasCapSysResource, imagePath } from '../../../src/storage/image.js';
import { getStorageDriver, type StorageTarget } from '../../../src/storage/index.js';
import { attachLoop, detachLoop, findLoopFor, listLoops, loopBackingFile, loopStatus, withLoop, LO_FLAGS_AUTOCLEAR } from '../../../src/sys/loop.js';
import { listMounts, mountsUnder, umount } from '../../../src/sys/mounts.js';
import { buildBusybox } from '../../../src/template/busybox.js';
import { copyTemplate } from '../../../src/template/cache.js';

const MiB = 1024 ** 2;
let base: string;
let t: StorageTarget;
const drv = new ImageDriver();

function leftovers() {
  return {
    loops: listLoops().filter((l) => l.backingFile.startsWith(base + '/')),
    mounts: listMounts().filter((m) => m.mountPoint.startsWith(base + '/')),
  };
}

beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-image-'));
  t = { ctid: 9101, privatePath: `${base}/private/9101`, mountPath: `${base}/root/9101` };
  fs.mkdirSync(path.dirname(t.privatePath));
  fs.mkdirSync(path.dirname(t.mountPath));
});

afterEach(() => {
  const before = leftovers();
  // Clean up whatever the test left, whatever happened.
  for (const m of mountsUnder(base)) umount(m, true);
  for (const l of listLoops()) if (l.backingFile.startsWith(base + '/')) detachLoop(l.dev);
  fs.rmSync(base, { recursive: true, force: true });
  expect(before).toEqual({ loops: [], mounts: [] });
});

/** Writes 1 MiB chunks of non-zero data into `file` until ENOSPC; returns bytes written. */
function fill(file: string, limit = 1024 * MiB): number {
  const chunk = Buffer.alloc(MiB, 0x5a);
  const fd = fs.openSync(file, 'w');
  let n = 0;
  try {
    while (n < limit) {
      try {
        n += fs.writeSync(fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw e;
      }
    }
    try {
      fs.fsyncSync(fd);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
    }
  } finally {
    fs.closeSync(fd);
  }
  return n;
}

function populateSmall(dir: string): void {
  fs.mkdirSync(`${dir}/etc`);
  fs.writeFileSync(`${dir}/etc/hostname`, 'ct9101\n');
  fs.writeFileSync(`${dir}/data`, Buffer.alloc(2 * MiB, 1));
}

describe('loop devices', () => {
  it('attach, status, find and detach; withLoop clears itself', () => {
    const img = `${base}/x.img`;
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 8 * MiB);
    const dev = attachLoop(img);
    try {
      expect(loopBackingFile(dev)).toBe(img);
      expect(findLoopFor(img)).toBe(dev);
      const st = loopStatus(dev);
      expect(st.fileName).toBe(img);
      expect(st.inode).toBe(BigInt(fs.statSync(img).ino));
      expect(st.flags & LO_FLAGS_AUTOCLEAR).toBe(0);
    } finally {
      detachLoop(dev);
    }
    expect(findLoopFor(img)).toBeNull();
    detachLoop(dev); // idempotent
    const held = withLoop(img, (d) => {
      expect(loopStatus(d).flags & LO_FLAGS_AUTOCLEAR).toBe(LO_FLAGS_AUTOCLEAR);
      expect(findLoopFor(img)).toBe(d);
      return d;
    });
    expect(loopBackingFile(held)).toBeNull();
  });

  it('allocates past the pre-made /dev/loop0-7 nodes (mknod without udev)', () => {
    const devs: string[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const img = `${base}/m${i}.img`;
        fs.writeFileSync(img, '');
        fs.truncateSync(img, MiB);
        devs.push(attachLoop(img));
      }
      expect(new Set(devs).size).toBe(10);
      for (const d of devs) expect(fs.statSync(d).isBlockDevice()).toBe(true);
    } finally {
      for (const d of devs) detachLoop(d);
    }
  });
});

describe('image driver', () => {
  it('is registered by name with its caps', () => {
    const d = getStorageDriver('image');
    expect(d.name).toBe('image');
    expect(d.caps).toMatchObject({ quota: false, snapshot: false, send: false, resize: true, compact: true });
  });

  it('creates a sparse image, mounts and unmounts it, destroys it', () => {
    drv.create(t, populateSmall, { sizeBytes: 32 * MiB });
    const img = imagePath(t);
    expect(fs.readdirSync(t.privatePath)).toEqual(['root.img']);
    expect(fs.existsSync(`${t.privatePath}.creating`)).toBe(false);
    const st = fs.statSync(img);
    expect(st.size).toBe(32 * MiB);
    expect(st.blocks * 512).toBeLessThan(16 * MiB); // sparse
    expect(findLoopFor(img)).toBeNull();
    expect(drv.exists(t)).toBe(true);
    expect(drv.isMounted(t)).toBe(false);

    const u0 = drv.usage(t); // unmounted: a brief read-only mount
    expect(findLoopFor(img)).toBeNull();
    drv.mount(t);
    drv.mount(t); // no-op
    expect(drv.isMounted(t)).toBe(true);
    const dev = listMounts().find((m) => m.mountPoint === t.mountPath)!.source;
    expect(dev).toMatch(/^\/dev\/loop\d+$/);
    expect(loopBackingFile(dev)).toBe(img);
    expect(fs.readFileSync(`${t.mountPath}/etc/hostname`, 'utf8')).toBe('ct9101\n');
    const u1 = drv.usage(t);
    expect(u1).toEqual(u0);
    expect(u1.bytes).toBeGreaterThanOrEqual(2 * MiB);
    expect(u1.limitBytes).toBeGreaterThan(24 * MiB);
    expect(u1.limitBytes).toBeLessThanOrEqual(32 * MiB);

    drv.unmount(t);
    expect(drv.isMounted(t)).toBe(false);
    expect(loopBackingFile(dev)).toBeNull(); // autoclear
    drv.unmount(t); // idempotent

    drv.mount(t);
    drv.destroy(t);
    expect(fs.existsSync(t.privatePath)).toBe(false);
    expect(fs.existsSync(`${t.privatePath}.destroying`)).toBe(false);
    expect(loopBackingFile(dev)).toBeNull();
    drv.destroy(t); // idempotent
  });

  it('mount refuses an image that is already mounted elsewhere', () => {
    drv.create(t, populateSmall, { sizeBytes: 32 * MiB });
    drv.mount(t);
    const other = { ...t, mountPath: `${base}/root/other` };
    expect(() => drv.mount(other)).toThrow(expect.objectContaining({ code: 'MOUNTED' }));
    drv.destroy(t);
  });

  it('a failing populate leaves nothing behind; ENOSPC is NO_SPACE', () => {
    expect(() =>
      drv.create(t, () => {
        throw new Error('boom');
      }, { sizeBytes: 32 * MiB }),
    ).toThrow('boom');
    expect(fs.existsSync(t.privatePath)).toBe(false);
    expect(fs.existsSync(`${t.privatePath}.creating`)).toBe(false);

    expect(() =>
      drv.create(t, (dir) => {
        fs.writeFileSync(`${dir}/big`, Buffer.alloc(48 * MiB, 1));
      }, { sizeBytes: 32 * MiB }),
    ).toThrow(expect.objectContaining({ code: 'NO_SPACE', exit: 46 }));
    expect(fs.existsSync(t.privatePath)).toBe(false);
    expect(fs.existsSync(`${t.privatePath}.creating`)).toBe(false);
    expect(() => drv.create(t, () => {}, { sizeBytes: 1 * MiB })).toThrow(expect.objectContaining({ code: 'INVALID' }));
  });

  it('the limit is the image size; grows online, refuses to shrink mounted, shrinks offline', () => {
    drv.create(t, populateSmall, { sizeBytes: 32 * MiB });
    const img = imagePath(t);
    drv.mount(t);
    const wrote = fill(`${t.mountPath}/fill1`);
    expect(wrote).toBeGreaterThan(16 * MiB);
    expect(wrote).toBeLessThan(32 * MiB);
    const st = fs.statSync(img);
    expect(st.size).toBe(32 * MiB); // the host's file never grew past the limit
    expect(st.blocks * 512).toBeLessThanOrEqual(32 * MiB);

    if (hasCapSysResource()) {
      drv.resize(t, 64 * MiB); // online
    } else {
      // This sandbox drops CAP_SYS_RESOURCE, which EXT4_IOC_RESIZE_FS needs: refused cleanly,
      // the file untouched; grown offline instead.
      expect(() => drv.resize(t, 64 * MiB)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED', message: expect.stringMatching(/CAP_SYS_RESOURCE/) }));
      expect(fs.statSync(img).size).toBe(32 * MiB);
      drv.unmount(t);
      drv.resize(t, 64 * MiB);
      drv.mount(t);
    }
    expect(fs.statSync(img).size).toBe(64 * MiB);
    expect(drv.usage(t).limitBytes).toBeGreaterThan(56 * MiB);
    const more = fill(`${t.mountPath}/fill2`, 24 * MiB);
    expect(more).toBe(24 * MiB);

    expect(() => drv.resize(t, 32 * MiB)).toThrow(expect.objectContaining({ code: 'INVALID', message: expect.stringMatching(/cannot shrink a mounted image/) }));

    drv.unmount(t);
    expect(() => drv.resize(t, 32 * MiB)).toThrow(expect.objectContaining({ code: 'INVALID', message: expect.stringMatching(/\d+ MiB are in use/) }));
    expect(fs.statSync(img).size).toBe(64 * MiB);

    drv.mount(t);
    fs.rmSync(`${t.mountPath}/fill1`);
    fs.rmSync(`${t.mountPath}/fill2`);
    drv.unmount(t);
    drv.resize(t, 24 * MiB);
    expect(fs.statSync(img).size).toBe(24 * MiB);
    expect(findLoopFor(img)).toBeNull();
    drv.mount(t);
    expect(fs.readFileSync(`${t.mountPath}/etc/hostname`, 'utf8')).toBe('ct9101\n');
    expect(drv.usage(t).limitBytes).toBeLessThanOrEqual(24 * MiB);
    drv.unmount(t);
    drv.resize(t, 40 * MiB); // offline grow
    expect(drv.usage(t).limitBytes).toBeGreaterThan(32 * MiB);
    drv.destroy(t);
  });

  it('compact gives deleted blocks back to the host (mounted and unmounted)', () => {
    drv.create(t, populateSmall, { sizeBytes: 64 * MiB });
    const img = imagePath(t);
    drv.mount(t);
    fill(`${t.mountPath}/junk`, 30 * MiB);
    const full = fs.statSync(img).blocks * 512;
    expect(full).toBeGreaterThan(30 * MiB);
    fs.rmSync(`${t.mountPath}/junk`);
    const r = drv.compact(t);
    expect(r.bytesBefore).toBe(full);
    expect(r.bytesFreed).toBeGreaterThan(25 * MiB);
    expect(fs.statSync(img).blocks * 512).toBe(r.bytesAfter);
    expect(fs.readFileSync(`${t.mountPath}/etc/hostname`, 'utf8')).toBe('ct9101\n');

    fill(`${t.mountPath}/junk2`, 20 * MiB);
    fs.rmSync(`${t.mountPath}/junk2`);
    drv.unmount(t);
    const r2 = drv.compact(t);
    expect(r2.bytesFreed).toBeGreaterThan(15 * MiB);
    expect(findLoopFor(img)).toBeNull();
    drv.destroy(t);
  });

  it('creates a 2 GiB image with the busybox tree (timed)', () => {
    const tree = `${base}/busybox`;
    fs.mkdirSync(tree);
    buildBusybox(tree);
    const t0 = performance.now();
    drv.create(t, (dir) => copyTemplate(tree, dir));
    const ms = performance.now() - t0;
    const st = fs.statSync(imagePath(t));
    const t1 = performance.now();
    drv.mount(t);
    const mountMs = performance.now() - t1;
    expect(fs.lstatSync(`${t.mountPath}/bin/sh`).isSymbolicLink()).toBe(true);
    const t2 = performance.now();
    drv.unmount(t);
    const umountMs = performance.now() - t2;
    console.log(
      `image create 2 GiB + busybox: ${ms.toFixed(0)} ms; mount ${mountMs.toFixed(1)} ms, unmount ${umountMs.toFixed(1)} ms; ` +
        `size ${st.size}, allocated ${((st.blocks * 512) / MiB).toFixed(1)} MiB`,
    );
    expect(st.size).toBe(2 * 1024 ** 3);
    drv.destroy(t);
  });
});
