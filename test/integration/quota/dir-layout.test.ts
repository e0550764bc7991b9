/**
 * Disk limits of real containers on file systems with project quotas: the dir layout on ext4 and
 * XFS (hard limits, inode limits, soft limit and grace, df inside, live change, restart, destroy)
 * and the image layout's online grow. The development hosts' kernel has no quota support (no
 * CONFIG_QFMT_V2, no CONFIG_XFS_QUOTA) and root there lacks CAP_SYS_RESOURCE, so this runs in the
 * test VM (stock Debian 6.1 kernel, full root); enabled by VZKIT_QUOTA_VM=1,
 * which the second half of `npm test` (test/vm/tests.sh) sets; ~3 min.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, runEntryInVm } from './vm-run.js';
import type { CtReport, Step } from './ct-scenario.js';

const enabled = process.env.VZKIT_QUOTA_VM === '1' && process.getuid?.() === 0;
const MiB = 1024 * 1024;
// VZKIT_CT_KINDS=xfs runs one file system only (for a quicker look while debugging).
const KINDS = (process.env.VZKIT_CT_KINDS ?? 'ext4,xfs').split(',');
const QUOTA_ERR = /Disk quota exceeded|No space left on device/;

/** `df -m` data line: [size, used, avail] in MiB. */
function dfMiB(s: Step | undefined): number[] {
  const f = (s?.out ?? '').trim().split(/\s+/);
  return [Number(f[1]), Number(f[2]), Number(f[3])];
}

describe.skipIf(!enabled)('disk limits of real containers (test VM with project quotas)', () => {
  const reports = new Map<string, CtReport>();
  beforeAll(async () => {
    const got = await runEntryInVm<CtReport[]>(path.join(REPO, 'test/integration/quota/ct-vm-entry.ts'), KINDS, 'CT-REPORT', 1_500_000);
    for (const r of got) reports.set(r.kind, r);
    // For a look at every step's output: VZKIT_CT_REPORT=/path/to/file.json.
    if (process.env.VZKIT_CT_REPORT) fs.writeFileSync(process.env.VZKIT_CT_REPORT, JSON.stringify(got, null, 1));
  }, 1_600_000);

  for (const kind of KINDS) {
    describe(`dir layout on ${kind}`, () => {
      const r = () => reports.get(kind)!;
      const step = (n: string) => r().steps[n];
      const ok = (n: string) => expect({ step: n, rc: step(n)?.rc, err: step(n)?.err }).toMatchObject({ step: n, rc: 0 });

      it('ran every step, and left no mount, loop device or private area', () => {
        expect(r().error).toBeUndefined();
        for (const n of ['create', 'start', 'keep', 'set60', 'write40again', 'setInodes', 'setSoft', 'overSoft', 'stop', 'start2', 'stop2', 'destroy']) ok(n);
        expect(r().leftovers).toEqual({ mounts: [], loops: [], files: [] });
      });

      it('--diskspace 20M:20M: a 40 MiB write fails with a quota error; earlier files stay; the node fs is untouched', () => {
        expect(step('write40')!.rc).not.toBe(0);
        expect(step('write40')!.out + step('write40')!.err).toMatch(QUOTA_ERR);
        const [keep, size] = step('keepAfter')!.out.trim().split('\n');
        expect(keep).toBe('keep-me-please');
        expect(Number(size)).toBeGreaterThan(15 * MiB);
        expect(Number(size)).toBeLessThanOrEqual(20 * MiB);
        // The node's file system still has most of its space: the project stopped, not the disk.
        expect(r().hostFreeAfterWrite!).toBeGreaterThan(150 * MiB);
        const q = JSON.parse(step('quotaFull')!.out);
        expect(q.blocks.hard).toBe(20 * 1024);
        expect(q.blocks.usage).toBeGreaterThan(19 * 1024);
        expect(q.blocks.usage).toBeLessThanOrEqual(20 * 1024);
      });

      it('df -m / inside shows the limit, and the new one after a live set', () => {
        expect(dfMiB(step('df20'))[0]).toBe(20);
        expect(dfMiB(step('df60'))[0]).toBe(60);
        expect(dfMiB(step('df2'))[0]).toBe(10); // after the soft limit of 10M: df shows the soft limit
      });

      it('vzctl set --diskspace 60M:60M on the running container: the same write succeeds', () => {
        expect(step('write40again')!.rc).toBe(0);
      });

      it('--diskinodes 1500:1500 stops file creation at the limit; a live set raises it', () => {
        const q0 = JSON.parse(step('quota0')!.out);
        const made = Number(step('inodes')!.out.trim());
        expect(made).toBeLessThan(3000);
        // The limit counts every inode of the container: what was there, /keep, /big, /many and the files.
        expect(q0.inodes.usage + 2 + 1 + made).toBe(1500);
        expect(JSON.parse(step('quotaInodes')!.out).inodes).toMatchObject({ usage: 1500, soft: 1500, hard: 1500 });
        expect(Number(step('inodesMore')!.out.trim())).toBe(500);
      });

      it('soft limit: writes go over it until the grace period (--quotatime) ends, then fail; below it they work again', () => {
        expect(step('overSoft')!.rc).toBe(0);
        const q = JSON.parse(step('quotaGrace')!.out);
        expect(q.blocks).toMatchObject({ soft: 10 * 1024, hard: 60 * 1024 });
        expect(q.blocks.usage).toBeGreaterThan(10 * 1024);
        expect(q.blocks.grace).toBeGreaterThanOrEqual(0);
        expect(q.blocks.grace).toBeLessThanOrEqual(4);
        expect(step('quotaGraceText')!.out).toMatch(/1k-blocks\s+\d+\s+10240\s+61440\s+(\ds|none)/);
        expect(step('afterGrace')!.rc).not.toBe(0);
        expect(step('afterGrace')!.out + step('afterGrace')!.err).toMatch(QUOTA_ERR);
        expect(step('belowSoft')!.rc).toBe(0);
      });

      it('vzlist shows the disk fields', () => {
        const [row] = JSON.parse(step('vzlist')!.out);
        expect(row).toMatchObject({ ctid: 201, layout: 'dir', 'diskspace.s': 10 * 1024, 'diskspace.h': 60 * 1024, 'diskinodes.s': null, 'diskinodes.h': null });
        expect(row.diskspace).toBeGreaterThan(1024);
        expect(row.diskinodes).toBeGreaterThan(100);
      });

      it('destroy leaves no project ID behind: no usage, no limits', () => {
        expect(r().afterDestroy).toMatchObject({ bytesUsed: 0, inodesUsed: 0, bytesSoft: 0, bytesHard: 0, inodesSoft: 0, inodesHard: 0 });
      });

      it('a file system without project quotas enforced: exit 60 naming the mount option, nothing made', () => {
        expect(step('noQuotaFs')!.rc).toBe(60);
        expect(step('noQuotaFs')!.err).toMatch(/prjquota/);
        expect(step('noQuotaFs')!.err.trim().split('\n').filter((l) => l.startsWith('vzctl')).length).toBeLessThanOrEqual(1);
        expect(step('noQuotaFsLeft')!.out).toBe('');
      });
    });
  }

  describe.skipIf(!KINDS.includes('ext4'))('image layout: online resize', () => {
    const step = (n: string) => reports.get('ext4')!.steps[n];
    it('grows while running; df inside follows; the data fits', () => {
      expect(step('imgStart')?.rc).toBe(0);
      expect(dfMiB(step('imgDf64'))[0]).toBeGreaterThan(50);
      expect(dfMiB(step('imgDf64'))[0]).toBeLessThanOrEqual(64);
      expect(step('imgGrow')).toMatchObject({ rc: 0 });
      expect(dfMiB(step('imgDf128'))[0]).toBeGreaterThan(110);
      expect(dfMiB(step('imgDf128'))[0]).toBeLessThanOrEqual(128);
      expect(step('imgWrite')?.rc).toBe(0);
    });
    it('refuses to shrink while running, and below its use when stopped; shrinks when it fits', () => {
      expect(step('imgShrinkLive')?.rc).not.toBe(0);
      expect(step('imgShrinkLive')?.err).toMatch(/stop the container first/);
      expect(step('imgShrinkInUse')?.rc).not.toBe(0);
      expect(step('imgShrinkInUse')?.err).toMatch(/MiB are in use/);
      expect(step('imgShrink')?.rc).toBe(0);
      expect(dfMiB(step('imgDf48'))[0]).toBeLessThanOrEqual(48);
      expect(step('imgDestroy')?.rc).toBe(0);
    });
  });
});
