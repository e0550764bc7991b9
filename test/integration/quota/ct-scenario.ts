/**
 * Disk limits of real containers, run where the kernel has project quotas (the test VM: see
 * dir-layout.test.ts). For each file system: a loop fs with project quotas, a vzkit node whose
 * root is on it, and containers driven through the real `vzctl`/`vzlist` commands. It only
 * observes and prints one JSON line; dir-layout.test.ts asserts. Everything it makes is removed
 * in a finally, and what is left afterwards is part of the report.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { getQuota, type ProjectQuota, type QuotaFs } from '../../../quota/project.js';
import { makeLoopFs, loopDevicesBackedBy } from '../../support/quota-testfs.js';

const REPO = process.env.VZKIT_REPO ?? path.resolve(process.cwd());

export interface Step {
  rc: number | null;
  out: string;
  err: string;
}

export interface CtReport {
  kind: QuotaFs;
  error?: string;
  steps: Record<string, Step>;
  /** The loop fs's free space after the over-limit write (the host side stays untouched). */
  hostFreeAfterWrite?: number;
  /** The project's quota after destroy (all zero when nothing is left). */
  afterDestroy?: ProjectQuota;
  leftovers?: { mounts: string[]; loops: string[]; files: string[] };
}

function statfsFree(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

export function runCtScenario(kind: QuotaFs, withImage: boolean): CtReport {
  const report: CtReport = { kind, steps: {} };
  const lfs = makeLoopFs(kind, kind === 'xfs' ? 300 : 256);
  const root = path.join(lfs.dir, 'vz');
  const cfg = path.join(lfs.tmp, 'vzkit.yaml');
  fs.writeFileSync(cfg, `root: ${root}\nnode: dq${kind}\n`);
  const env = { ...process.env, VZKIT_CONFIG: cfg, PATH: `${REPO}/dist:${process.env.PATH}` };
  const run = (name: string, cmd: string, args: string[]): Step => {
    const r = spawnSync(path.join(REPO, 'dist', cmd), args, { env, encoding: 'utf8', timeout: 300_000 });
    const step = { rc: r.status, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
    report.steps[name] = step;
    return step;
  };
  const vzctl = (name: string, ...args: string[]) => run(name, 'vzctl', args);
  const sh = (name: string, ctid: number, script: string) => vzctl(name, 'exec', String(ctid), 'sh', '-c', script);
  try {
    // --- dir layout: hard limits --------------------------------------------------------------
    vzctl('create', 'create', '201', '--ostemplate', 'busybox', '--layout', 'dir', '--diskspace', '20M:20M', '--diskinodes', '1500:1500');
    vzctl('start', 'start', '201');
    vzctl('quota0', 'quota', '201', '--json');
    sh('keep', 201, 'echo keep-me-please > /keep && sync && cat /keep');
    sh('write40', 201, 'dd if=/dev/zero of=/big bs=1M count=40 2>&1; rc=$?; sync; exit $rc');
    report.hostFreeAfterWrite = statfsFree(lfs.dir);
    sh('keepAfter', 201, 'cat /keep; stat -c %s /big');
    sh('df20', 201, 'df -m / | tail -n 1');
    vzctl('quotaFull', 'quota', '201', '--json');
    vzctl('set60', 'set', '201', '--diskspace', '60M:60M', '--save');
    sh('write40again', 201, 'rm -f /big && dd if=/dev/zero of=/big bs=1M count=40 2>&1; rc=$?; sync; exit $rc');
    sh('df60', 201, 'df -m / | tail -n 1');
    // --- inodes --------------------------------------------------------------------------------
    // echo, not ':': a failed redirection on a special builtin would end busybox sh.
    sh('inodes', 201, 'mkdir /many; i=0; while [ $i -lt 3000 ] && echo -n 2>/dev/null >/many/f$i; do i=$((i+1)); done; echo $i');
    vzctl('quotaInodes', 'quota', '201', '--json');
    vzctl('setInodes', 'set', '201', '--diskinodes', '4000:4000', '--save');
    sh('inodesMore', 201, 'i=0; while [ $i -lt 500 ] && echo -n 2>/dev/null >/many/g$i; do i=$((i+1)); done; echo $i');
    // --- soft limit and grace ------------------------------------------------------------------
    sh('clean', 201, 'rm -rf /many /big; sync');
    vzctl('setSoft', 'set', '201', '--diskspace', '10M:60M', '--diskinodes', 'unlimited', '--quotatime', '4', '--save');
    sh('overSoft', 201, 'dd if=/dev/zero of=/big bs=1M count=15 2>&1; rc=$?; sync; exit $rc');
    vzctl('quotaGrace', 'quota', '201', '--json');
    vzctl('quotaGraceText', 'quota', '201');
    sh('afterGrace', 201, 'sleep 5; dd if=/dev/zero of=/more bs=1M count=2 2>&1; rc=$?; sync; exit $rc');
    // XFS frees a removed file's blocks in the background (inodegc), so the quota may still count
    // them for a moment after rm and sync, more so in the emulated VM: a few tries, one second apart.
    sh('belowSoft', 201, 'rm -f /big /more; sync; for i in 1 2 3 4 5 6 7 8 9 10; do dd if=/dev/zero of=/small bs=1M count=2 2>/dev/null && { sync; exit 0; }; rm -f /small; sleep 1; done; dd if=/dev/zero of=/small bs=1M count=2 2>&1; exit 1');
    run('vzlist', 'vzlist', ['-a', '-j', '-o', 'ctid,layout,diskspace,diskspace.s,diskspace.h,diskinodes,diskinodes.s,diskinodes.h']);
    // --- the limit survives a restart; destroy leaves nothing -----------------------------------
    vzctl('stop', 'stop', '201');
    vzctl('start2', 'start', '201');
    sh('df2', 201, 'df -m / | tail -n 1');
    vzctl('stop2', 'stop', '201');
    vzctl('destroy', 'destroy', '201');
    report.afterDestroy = getQuota(lfs.device, kind, 201);

    // --- a file system without enforcement: a clear error, nothing made -------------------------
    const plain = makeLoopFs(kind, kind === 'xfs' ? 300 : 64, { mountOptions: '' });
    try {
      const cfg2 = path.join(plain.tmp, 'vzkit.yaml');
      fs.writeFileSync(cfg2, `root: ${path.join(plain.dir, 'vz')}\nnode: dqn${kind}\n`);
      const r = spawnSync(path.join(REPO, 'dist/vzctl'), ['create', '202', '--ostemplate', 'busybox', '--diskspace', '20M'], {
        env: { ...env, VZKIT_CONFIG: cfg2 },
        encoding: 'utf8',
        timeout: 300_000,
      });
      report.steps.noQuotaFs = { rc: r.status, out: r.stdout, err: r.stderr };
      report.steps.noQuotaFsLeft = { rc: 0, out: fs.readdirSync(path.join(plain.dir, 'vz', 'private'), { withFileTypes: true }).map((d) => d.name).join(','), err: '' };
    } catch (e) {
      report.steps.noQuotaFsLeft = { rc: 1, out: '', err: (e as Error).message };
    } finally {
      plain.cleanup();
    }

    // --- image layout: online grow (needs CAP_SYS_RESOURCE, which the VM's root has) -------------
    if (withImage) {
      vzctl('imgCreate', 'create', '301', '--ostemplate', 'busybox', '--layout', 'image', '--diskspace', '64M');
      vzctl('imgStart', 'start', '301');
      sh('imgDf64', 301, 'df -m / | tail -n 1');
      vzctl('imgGrow', 'set', '301', '--diskspace', '128M', '--save');
      sh('imgDf128', 301, 'df -m / | tail -n 1');
      sh('imgWrite', 301, 'dd if=/dev/zero of=/big bs=1M count=90 2>&1; rc=$?; sync; exit $rc');
      vzctl('imgShrinkLive', 'set', '301', '--diskspace', '96M', '--save');
      vzctl('imgStop', 'stop', '301');
      vzctl('imgShrinkInUse', 'set', '301', '--diskspace', '48M', '--save');
      vzctl('imgStart2', 'start', '301');
      sh('imgRm', 301, 'rm -f /big; sync');
      vzctl('imgStop3', 'stop', '301');
      vzctl('imgShrink', 'set', '301', '--diskspace', '48M', '--save');
      vzctl('imgStart3', 'start', '301');
      sh('imgDf48', 301, 'df -m / | tail -n 1');
      vzctl('imgStop2', 'stop', '301');
      vzctl('imgDestroy', 'destroy', '301');
    }
  } catch (e) {
    report.error = (e as Error).stack ?? String(e);
  } finally {
    for (const id of ['201', '301']) {
      spawnSync(path.join(REPO, 'dist/vzctl'), ['stop', id, '--fast'], { env, encoding: 'utf8' });
      spawnSync(path.join(REPO, 'dist/vzctl'), ['destroy', id], { env, encoding: 'utf8' });
    }
    const mounts = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((p) => p.startsWith(root));
    const files = fs.existsSync(path.join(root, 'private')) ? fs.readdirSync(path.join(root, 'private')) : [];
    report.leftovers = { mounts, files, loops: loopDevicesBackedBy((b) => b.startsWith(root)) };
    try {
      lfs.cleanup();
    } catch (e) {
      report.error = `${report.error ?? ''}\ncleanup: ${(e as Error).message}`;
    }
  }
  return report;
}

