/**
 * ext4 and XFS project quotas for real (root only; skipped otherwise).
 *
 * Where: the scenario (scenario.ts) runs in this process for each file system the host kernel
 * can do project quotas on. The development hosts' kernel has neither CONFIG_QFMT_V2 nor
 * CONFIG_XFS_QUOTA, so there the same scenario runs in the test VM (test/vm: a stock Debian 6.1
 * kernel under qemu), with the quota and fs modules from vm-modules.sh; it takes ~25 s. The VM
 * run needs VZKIT_QUOTA_VM=1, which test/vm/tests.sh sets (it builds the VM when missing, ~70 MB download).
 *
 * On a host without quota support, the host part checks what can be checked there: makeLoopFs
 * fails with a message naming the missing kernel option and leaves nothing behind, and
 * setProject works on an XFS mounted without quotas (project IDs need no quota support).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runScenario, MiB, type Report } from './scenario.js';
import { runEntryInVm } from './vm-run.js';
import { kernelQuotaGap, projectQuotaSupport, setProject, getProject, type QuotaFs } from '../../../quota/project.js';
import { makeLoopFs, loopDevicesBackedBy, sweepStaleLoopFs, type LoopFs } from '../../support/quota-testfs.js';
import { getLibc } from '../../../src/sys/libc.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const isRoot = process.getuid?.() === 0;
const KINDS: QuotaFs[] = ['ext4', 'xfs'];
const PROJID = 4242;
const QUOTA_ERR = ['EDQUOT', 'ENOSPC']; // ext4 says EDQUOT, XFS ENOSPC for project quotas

function qfsLeftovers(): { loops: string[]; mounts: string[] } {
  const mine = `/vzkit-qfs-${process.pid}-`;
  const loops = loopDevicesBackedBy((b) => b.includes(mine));
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p.includes(mine));
  return { loops, mounts };
}

/** Host kernel support per fs: its config when published, else a trial mount. */
function hostSupports(kind: QuotaFs): { ok: boolean; why?: string } {
  if (!isRoot) return { ok: false, why: 'not root' };
  const gap = kernelQuotaGap(kind);
  if (gap) return { ok: false, why: gap };
  try {
    makeLoopFs(kind, kind === 'xfs' ? 300 : 64).cleanup();
    return { ok: true };
  } catch (e) {
    return { ok: false, why: (e as Error).message };
  }
}

const host = Object.fromEntries(KINDS.map((k) => [k, hostSupports(k)])) as Record<QuotaFs, { ok: boolean; why?: string }>;
const vmCache = process.env.VZKIT_VM_CACHE ?? '/var/cache/vzkit-vm';
const vmKinds = KINDS.filter((k) => !host[k].ok);
const vmWanted =
  isRoot &&
  vmKinds.length > 0 &&
  // Set by test/vm/tests.sh, npm test's second half: VM runs one at a time, never beside the host suite.
  process.env.VZKIT_QUOTA_VM === '1';

/** Bundles vm-entry.ts, boots the VM with the quota modules, returns its reports. */
function runInVm(kinds: QuotaFs[]): Promise<Report[]> {
  return runEntryInVm<Report[]>(path.join(REPO, 'test/integration/quota/vm-entry.ts'), kinds, 'QUOTA-REPORT');
}

/** The assertions, the same for a run here and in the VM. */
function checks(kind: QuotaFs, where: string, get: () => Report): void {
  describe(`${kind} project quotas (${where})`, () => {
    it('ran without errors on a file system with project quotas enforced', () => {
      const r = get();
      expect(r.error).toBeUndefined();
      expect(r.support).toMatchObject({ ok: true, fs: kind, device: expect.stringMatching(/^\/dev\/loop\d+$/) });
      expect(r.state).toMatchObject({ accounting: true, enforced: true });
    });

    it('setProject stamps the tree; new inodes of every type inherit the project', () => {
      const r = get();
      const dir = { projid: PROJID, inherit: true };
      const file = { projid: PROJID, inherit: false };
      expect(r.projects).toMatchObject({ '.': dir, etc: dir, 'etc/hostname': file, 'var/new': dir, 'var/new/file': file });
      // Symlinks: stamped only where file_setattr(2) exists (6.17+); else left in their old project.
      const old = r.projects!['etc/old-link'];
      expect(old === null || old.projid === PROJID).toBe(true);
      expect(r.setProject!.inodes + r.setProject!.skipped).toBe(4);
      expect(r.setProject!.skipped).toBe(old === null ? 1 : 0);
      // A symlink and a FIFO created below a PROJINHERIT dir count against the project.
      expect(r.specialCharged!.after - r.specialCharged!.before).toBe(2);
    });

    it('a 20 MiB hard limit stops a 40 MiB write at ~20 MiB; earlier files stay intact', () => {
      const h = get().hard!;
      expect(QUOTA_ERR).toContain(h.write.error);
      expect(h.write.written).toBeGreaterThan(18 * MiB);
      expect(h.write.written).toBeLessThanOrEqual(20 * MiB);
      expect(h.keepIntact).toBe(true);
      expect(h.quota.bytesHard).toBe(20 * MiB);
      expect(h.quota.bytesUsed).toBeGreaterThan(19 * MiB);
      expect(h.quota.bytesUsed).toBeLessThanOrEqual(20 * MiB);
      expect(h.xfsApi).toEqual(h.quota); // Q_XGETQUOTA (fs_disk_quota) agrees with Q_GETQUOTA (if_dqblk)
    });

    it('statfs (df) on the project dir and on a bind mount of it reports the limit', () => {
      const h = get().hard!;
      expect(h.statfsDir.size).toBe(20 * MiB);
      expect(h.statfsBind.size).toBe(20 * MiB);
      expect(h.statfsDir.avail).toBeLessThan(MiB);
      expect(h.statfsRoot.size).toBeGreaterThan(100 * MiB);
      expect(h.df).toMatch(/^\s*20971520\s/m);
    });

    it('root with CAP_SYS_RESOURCE: ext4 lets it past the limit, XFS does not', () => {
      const w = get().rootWrite!;
      if (kind === 'ext4' && w.hasCapSysResource) expect(w.write).toEqual({ written: 40 * MiB });
      else expect(QUOTA_ERR).toContain(w.write.error);
    });

    it('raising the limit to 60 MiB on the live fs lets the same write through', () => {
      const r = get();
      expect(r.raised!.write).toEqual({ written: 40 * MiB });
      expect(r.raised!.quota.bytesHard).toBe(60 * MiB);
      expect(r.raised!.statfsDir.size).toBe(60 * MiB);
      expect(r.xfsSet).toMatchObject({ bytesSoft: 50 * MiB, bytesHard: 70 * MiB, inodesSoft: 900, inodesHard: 1000 });
    });

    it('an inode limit stops file creation', () => {
      const i = get().inodes!;
      expect(QUOTA_ERR).toContain(i.error);
      expect(i.created).toBeGreaterThanOrEqual(48);
      expect(i.created).toBeLessThanOrEqual(50);
      expect(i.quota.inodesUsed).toBeLessThanOrEqual(i.limit);
      expect(i.statfsDir.files).toBe(i.limit);
    });

    it('soft limits: writes pass until the (per-fs) grace period ends, then fail', () => {
      const g = get().grace!;
      expect(g.graceSet).toEqual({ bytesSeconds: 2, inodesSeconds: 2 });
      expect(g.pastSoft).toEqual({ written: 15 * MiB });
      expect(g.filesPastSoft).toBe(10);
      expect(g.quotaPastSoft.bytesGraceExpires).toBeGreaterThanOrEqual(g.now);
      expect(g.quotaPastSoft.bytesGraceExpires).toBeLessThanOrEqual(g.now + 3);
      expect(g.quotaPastSoft.inodesGraceExpires).toBeDefined();
      // statfs shows the soft limit when there is one (both file systems)
      expect(g.statfsPastSoft).toMatchObject({ size: 10 * MiB, avail: 0, files: g.quotaPastSoft.inodesSoft, ffree: 0 });
      expect(QUOTA_ERR).toContain(g.afterExpiry.error);
      expect(QUOTA_ERR).toContain(g.fileAfterExpiry);
    });

    it('rename and link into the project from another project fail with EXDEV', () => {
      expect(get().renameIn).toBe('EXDEV');
      expect(get().linkIn).toBe('EXDEV');
    });

    it('clearProject removes every limit', () => {
      const c = get().cleared!;
      expect(c.returned).toBe(true);
      expect(c.quota).toMatchObject({ bytesSoft: 0, bytesHard: 0, inodesSoft: 0, inodesHard: 0 });
      expect(c.write).toEqual({ written: 70 * MiB });
      expect(c.statfsDir.size).toBeGreaterThan(100 * MiB);
    });

    it('misconfigured file systems get a reason that says what to change', () => {
      const r = get();
      expect(r.noPrjquota!.support).toMatchObject({ ok: false, reason: expect.stringContaining('mount it with -o prjquota') });
      expect(r.noPrjquota!.setLimitsError).toMatch(/mount it with -o prjquota/);
      if (kind === 'ext4') {
        expect(r.noFeature!.support).toMatchObject({ ok: false, reason: expect.stringContaining('tune2fs -O project,quota') });
        expect(r.noFeature!.setProjectError).toMatch(/no project ID support/);
      }
    });

    it('cleanup leaves no loop device, mount or temp dir', () => {
      expect(get().leftovers).toEqual({ loopDevices: [], mounts: [], tmpExists: false });
    });
  });
}

describe.skipIf(!isRoot)('project quotas', () => {
  beforeAll(() => {
    sweepStaleLoopFs();
  });

  afterAll(() => {
    // Nothing this file made may survive it (the VM's loop devices die with the VM).
    expect(qfsLeftovers()).toEqual({ loops: [], mounts: [] });
  });

  for (const kind of KINDS) {
    if (host[kind].ok) {
      let report: Report;
      beforeAll(() => {
        report = runScenario(kind);
      }, 600_000);
      checks(kind, `host kernel ${os.release()}`, () => report);
    }
  }

  describe.skipIf(!vmWanted)(`in the test VM (host kernel ${os.release()} lacks quota support)`, () => {
    const reports = new Map<QuotaFs, Report>();
    beforeAll(async () => {
      for (const r of await runInVm(vmKinds)) reports.set(r.kind, r);
    }, 900_000);
    for (const kind of vmKinds) {
      checks(kind, 'VM', () => {
        const r = reports.get(kind);
        if (!r) throw new Error(`no ${kind} report from the VM`);
        return r;
      });
    }
  });

  describe('on this host kernel', () => {
    for (const kind of KINDS.filter((k) => !host[k].ok)) {
      it(`${kind}: makeLoopFs fails with the missing kernel option named, leaving nothing behind`, () => {
        const before = qfsLeftovers();
        expect(() => makeLoopFs(kind, kind === 'xfs' ? 300 : 64)).toThrow(/CONFIG_(QFMT_V2|XFS_QUOTA|QUOTA)/);
        expect(qfsLeftovers()).toEqual(before);
      });
    }

    it('setProject and getProject on an XFS mounted without quotas (project IDs need no quota support)', () => {
      let lf: LoopFs | undefined;
      try {
        lf = makeLoopFs('xfs', 300, { mountOptions: '' });
        const ct = path.join(lf.dir, 'ct');
        fs.mkdirSync(path.join(ct, 'a', 'b'), { recursive: true });
        fs.writeFileSync(path.join(ct, 'a', 'f'), 'x');
        fs.symlinkSync('f', path.join(ct, 'a', 'link'));
        // A mount below the tree is another file system: the walk must not enter it.
        const sub = path.join(ct, 'mnt');
        fs.mkdirSync(sub);
        expect(getLibc().mount('tmpfs', sub, 'tmpfs', 0, 'size=1m')).toBe(0);
        fs.writeFileSync(path.join(sub, 'inside'), 'z');
        let res: ReturnType<typeof setProject>;
        try {
          res = setProject(ct, PROJID);
          expect(fs.readdirSync(sub)).toEqual(['inside']);
        } finally {
          getLibc().umount2(sub, 0);
        }
        expect(getProject(sub)).toEqual({ projid: 0, inherit: false }); // the covered dir: not reached
        expect(getProject(ct)).toEqual({ projid: PROJID, inherit: true });
        expect(getProject(path.join(ct, 'a', 'b'))).toEqual({ projid: PROJID, inherit: true });
        expect(getProject(path.join(ct, 'a', 'f'))).toEqual({ projid: PROJID, inherit: false });
        const link = getProject(path.join(ct, 'a', 'link'));
        // file_setattr(2) (6.17+) reaches symlinks on XFS; older kernels skip them.
        expect(res).toEqual(link ? { inodes: 5, skipped: 1 } : { inodes: 4, skipped: 2 }); // + the mount point
        if (link) expect(link.projid).toBe(PROJID);
        fs.writeFileSync(path.join(ct, 'a', 'b', 'new'), 'y');
        expect(getProject(path.join(ct, 'a', 'b', 'new'))?.projid).toBe(PROJID);
        const support = projectQuotaSupport(ct);
        expect(support.ok).toBe(host.xfs.ok);
        if (!support.ok) expect(support.reason).toMatch(/prjquota|CONFIG_XFS_QUOTA/);
      } finally {
        lf?.cleanup();
      }
      expect(lf && fs.existsSync(lf.tmp)).toBe(false);
    });

    it('makeLoopFs undoes its steps when mkfs fails', () => {
      const before = qfsLeftovers();
      const tmps = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(`vzkit-qfs-${process.pid}-`));
      expect(() => makeLoopFs('xfs', 300, { mkfsArgs: ['false'] })).toThrow(/false .* exited 1/);
      expect(qfsLeftovers()).toEqual(before);
      expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(`vzkit-qfs-${process.pid}-`))).toEqual(tmps);
    });

    it('cleanup copes with a busy mount and runs twice', () => {
      const lf = makeLoopFs('xfs', 300, { mountOptions: '' });
      const fd = fs.openSync(path.join(lf.dir, 'busy'), 'w');
      try {
        lf.cleanup(); // EBUSY: waits, then detaches lazily; the loop device goes when the fs does
        expect(fs.existsSync(lf.tmp)).toBe(false);
        expect(qfsLeftovers().mounts).toEqual([]);
      } finally {
        fs.closeSync(fd);
      }
      lf.cleanup();
      const deadline = Date.now() + 5000;
      while (loopDevicesBackedBy((b) => b === lf.image).length && Date.now() < deadline) spawnSync('sleep', ['0.1']);
      expect(loopDevicesBackedBy((b) => b === lf.image)).toEqual([]);
    });
  });
});
