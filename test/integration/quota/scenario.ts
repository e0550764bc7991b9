/**
 * The project quota checks, written once and run where a kernel can do project quotas: in the
 * vitest process when the host kernel can (project.test.ts), else in the test VM (vm-entry.ts,
 * bundled and booted by project.test.ts). It only observes and returns plain JSON; the vitest
 * file asserts on it, so the VM run needs no test framework. Every loop fs is cleaned up in a
 * finally, also when a step throws (the error is then part of the report).
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import {
  projectQuotaSupport,
  setProject,
  getProject,
  setLimits,
  getQuota,
  xfsGetQuota,
  xfsSetLimits,
  clearProject,
  getGrace,
  setGrace,
  quotaState,
  type QuotaFs,
  type ProjectQuota,
  type QuotaSupport,
  type QuotaState,
} from '../../../quota/project.js';
import { makeLoopFs, loopDevicesBackedBy, type LoopFs } from '../../support/quota-testfs.js';
import { getLibc } from '../../../src/sys/libc.js';

export const MiB = 1024 * 1024;
const PROJID = 4242;

export interface WriteResult {
  written: number;
  error?: string; // errno code of the failing write/close
}

export interface StatfsView {
  size: number;
  avail: number;
  files: number;
  ffree: number;
}

export interface Report {
  kind: QuotaFs;
  kernel: string;
  error?: string; // a step threw: its message and stack
  support?: QuotaSupport;
  state?: QuotaState;
  setProject?: { inodes: number; skipped: number };
  projects?: Record<string, { projid: number; inherit: boolean } | null>;
  /** Project inodes before/after creating a symlink and a FIFO below the project dir. */
  specialCharged?: { before: number; after: number };
  hard?: {
    keepIntact: boolean;
    write: WriteResult;
    quota: ProjectQuota;
    xfsApi: ProjectQuota;
    statfsDir: StatfsView;
    statfsRoot: StatfsView;
    statfsBind: StatfsView;
    df: string;
  };
  /** A write by this (root) process at the same 20 MiB limit: ext4 lets CAP_SYS_RESOURCE through. */
  rootWrite?: { hasCapSysResource: boolean; write: WriteResult; quota: ProjectQuota };
  raised?: { write: WriteResult; quota: ProjectQuota; statfsDir: StatfsView };
  xfsSet?: ProjectQuota; // limits set through Q_XSETQLIM, read through Q_GETQUOTA
  inodes?: { limit: number; usedBefore: number; created: number; error?: string; quota: ProjectQuota; statfsDir: StatfsView };
  grace?: {
    graceBefore: { bytesSeconds: number; inodesSeconds: number };
    graceSet: { bytesSeconds: number; inodesSeconds: number };
    pastSoft: WriteResult;
    filesPastSoft: number;
    quotaPastSoft: ProjectQuota;
    statfsPastSoft: StatfsView; // soft 10 MiB, hard 60 MiB
    now: number;
    waitedMs: number;
    afterExpiry: WriteResult;
    fileAfterExpiry?: string;
    quotaAfterExpiry: ProjectQuota;
  };
  renameIn?: string; // errno code of renaming a project-0 file into the project dir
  linkIn?: string;
  cleared?: { returned: boolean; quota: ProjectQuota; write: WriteResult; statfsDir: StatfsView };
  noPrjquota?: { support: QuotaSupport; setLimitsError?: string };
  noFeature?: { support: QuotaSupport; setProjectError?: string };
  leftovers?: { loopDevices: string[]; mounts: string[]; tmpExists: boolean };
  timings: Record<string, number>;
}

/** errno code of a coreutils/sh error message. */
function msgCode(msg: string): string {
  if (/Disk quota exceeded/i.test(msg)) return 'EDQUOT';
  if (/No space left/i.test(msg)) return 'ENOSPC';
  return msg.trim();
}

/**
 * Runs a shell script without CAP_SYS_RESOURCE, the way a container's processes run: the generic
 * VFS quota code (ext4) lets a task with CAP_SYS_RESOURCE in the initial user namespace exceed
 * every limit (ignore_hardlimit()), XFS enforces project limits on everyone.
 */
export function unprivileged(script: string, ...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('setpriv', ['--bounding-set=-sys_resource', '--inh-caps=-sys_resource', '--', 'sh', '-c', script, 'sh', ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.error) throw r.error;
  return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

/** dd of `mib` MiB of zeros into a new file (or appended to an existing one), without CAP_SYS_RESOURCE. */
export function ddWrite(file: string, mib: number, append = false): WriteResult {
  const flags = append ? 'oflag=append conv=notrunc' : '';
  const r = unprivileged(`exec dd if=/dev/zero of="$1" bs=1M count="$2" ${flags} 2>&1`, file, String(mib));
  const written = Number(/^(\d+) bytes/m.exec(r.stdout)?.[1] ?? NaN);
  const err = /error writing '[^']*': (.*)$/m.exec(r.stdout)?.[1] ?? /dd: (.*)$/m.exec(r.stdout)?.[1];
  return err || r.status !== 0 ? { written, error: msgCode(err ?? r.stdout) } : { written };
}

/** Creates up to n new empty files <prefix>0.. in dir, without CAP_SYS_RESOURCE; stops at the first error. */
export function touchMany(dir: string, n: number, prefix = 'f'): { created: number; error?: string } {
  const r = unprivileged(
    'cd "$1" || exit 1; i=0; while [ $i -lt "$2" ]; do err=$( { : > "$3$i"; } 2>&1 ) || { echo "$i $err"; exit 0; }; i=$((i+1)); done; echo "$i"',
    dir,
    String(n),
    prefix,
  );
  const m = /^(\d+)(?: (.*))?$/m.exec(r.stdout.trim());
  if (!m) throw new Error(`touchMany: ${r.stdout}${r.stderr}`);
  return m[2] ? { created: Number(m[1]), error: msgCode(m[2]) } : { created: Number(m[1]) };
}

function syncFs(dir: string): void {
  spawnSync('sync', ['-f', dir]);
}

function hasCapSysResource(): boolean {
  const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return (BigInt('0x' + eff) & (1n << 24n)) !== 0n;
}

export function writeChunks(file: string, total: number, chunk = MiB): WriteResult {
  const buf = Buffer.alloc(chunk, 0x5a);
  let written = 0;
  let fd: number;
  try {
    fd = fs.openSync(file, 'w');
  } catch (e) {
    return { written, error: (e as NodeJS.ErrnoException).code };
  }
  let error: string | undefined;
  try {
    while (written < total) {
      written += fs.writeSync(fd, buf, 0, Math.min(chunk, total - written));
    }
  } catch (e) {
    error = (e as NodeJS.ErrnoException).code;
  }
  try {
    fs.closeSync(fd);
  } catch (e) {
    error ??= (e as NodeJS.ErrnoException).code;
  }
  return error ? { written, error } : { written };
}

function statfsView(p: string): StatfsView {
  const s = fs.statfsSync(p);
  return { size: s.blocks * s.bsize, avail: s.bavail * s.bsize, files: s.files, ffree: s.ffree };
}

function sha(p: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

function code(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(dir + '/'));
}

function emptyDir(d: string): void {
  for (const n of fs.readdirSync(d)) fs.rmSync(path.join(d, n), { recursive: true, force: true });
}

const sizeOf = (kind: QuotaFs): number => (kind === 'xfs' ? 300 : 160);

export function runScenario(kind: QuotaFs): Report {
  const r: Report = { kind, kernel: fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(), timings: {} };
  const t0 = Date.now();
  const lap = (name: string, since: number): void => void (r.timings[name] = Date.now() - since);
  let lf: LoopFs | undefined;
  let bind: string | undefined;
  try {
    let t = Date.now();
    lf = makeLoopFs(kind, sizeOf(kind));
    lap('makeLoopFs', t);
    const { dir, device } = lf;
    const ct = path.join(dir, 'ct');
    fs.mkdirSync(path.join(ct, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(ct, 'etc', 'hostname'), 'ct\n');
    fs.symlinkSync('hostname', path.join(ct, 'etc', 'old-link'));
    r.support = projectQuotaSupport(ct);
    r.state = quotaState(device, kind);

    t = Date.now();
    r.setProject = setProject(ct, PROJID);
    lap('setProject', t);
    fs.mkdirSync(path.join(ct, 'var', 'new'), { recursive: true });
    fs.writeFileSync(path.join(ct, 'var', 'new', 'file'), 'x');
    fs.symlinkSync('file', path.join(ct, 'var', 'new', 'new-link'));
    syncFs(ct);
    const before = getQuota(device, kind, PROJID).inodesUsed;
    fs.symlinkSync('/nowhere', path.join(ct, 'var', 'new', 'link2'));
    spawnSync('mkfifo', [path.join(ct, 'var', 'new', 'fifo')]);
    r.specialCharged = { before, after: getQuota(device, kind, PROJID).inodesUsed };
    const proj = (p: string): { projid: number; inherit: boolean } | null => getProject(path.join(ct, p)) ?? null;
    r.projects = {
      '.': proj('.'),
      etc: proj('etc'),
      'etc/hostname': proj('etc/hostname'),
      'etc/old-link': proj('etc/old-link'),
      'var/new': proj('var/new'),
      'var/new/file': proj('var/new/file'),
      'var/new/new-link': proj('var/new/new-link'),
    };

    // Hard limit: 20 MiB; a 40 MiB write stops at the limit, earlier data stays intact.
    t = Date.now();
    writeChunks(path.join(ct, 'keep'), MiB);
    const keepSum = sha(path.join(ct, 'keep'));
    setLimits(device, kind, PROJID, { bytesHard: 20 * MiB });
    const write = ddWrite(path.join(ct, 'big'), 40);
    bind = path.join(lf.tmp, 'bind');
    fs.mkdirSync(bind);
    if (getLibc().mount(ct, bind, null, 0x1000 /* MS_BIND */, null) !== 0) throw new Error(`bind mount: errno ${getLibc().errno()}`);
    const df = spawnSync('df', ['-B1', '--output=size,used,avail,pcent', ct], { encoding: 'utf8' }).stdout.trim();
    r.hard = {
      keepIntact: sha(path.join(ct, 'keep')) === keepSum,
      write,
      quota: getQuota(device, kind, PROJID),
      xfsApi: xfsGetQuota(device, kind, PROJID),
      statfsDir: statfsView(ct),
      statfsRoot: statfsView(dir),
      statfsBind: statfsView(bind),
      df,
    };
    lap('hard', t);
    const rootWrite = writeChunks(path.join(ct, 'root-big'), 40 * MiB);
    r.rootWrite = { hasCapSysResource: hasCapSysResource(), write: rootWrite, quota: getQuota(device, kind, PROJID) };
    fs.rmSync(path.join(ct, 'root-big'), { force: true });

    // Raise the limit on the live, mounted fs: the same 40 MiB write now fits.
    t = Date.now();
    setLimits(device, kind, PROJID, { bytesHard: 60 * MiB });
    fs.rmSync(path.join(ct, 'big'));
    r.raised = { write: ddWrite(path.join(ct, 'big'), 40), quota: getQuota(device, kind, PROJID), statfsDir: statfsView(ct) };
    lap('raised', t);

    // The XFS interface sets the same limits (and works on ext4 too).
    xfsSetLimits(device, kind, PROJID, { bytesSoft: 50 * MiB, bytesHard: 70 * MiB, inodesSoft: 900, inodesHard: 1000 });
    r.xfsSet = getQuota(device, kind, PROJID);

    // Inode limit: 50 more inodes than in use now.
    t = Date.now();
    fs.rmSync(path.join(ct, 'big'));
    const many = path.join(ct, 'many');
    fs.mkdirSync(many, { mode: 0o777 });
    syncFs(ct); // XFS frees inodes in the background (inodegc): let the count settle
    const usedBefore = getQuota(device, kind, PROJID).inodesUsed;
    const limit = usedBefore + 50;
    setLimits(device, kind, PROJID, { bytesHard: 60 * MiB, inodesHard: limit });
    const { created, error: inodeErr } = touchMany(many, 200);
    r.inodes = { limit, usedBefore, created, error: inodeErr, quota: getQuota(device, kind, PROJID), statfsDir: statfsView(ct) };
    fs.rmSync(many, { recursive: true, force: true });
    lap('inodes', t);

    // Soft limits and grace: over the soft limit is allowed until the grace period ends.
    t = Date.now();
    const graceBefore = getGrace(device, kind);
    setGrace(device, kind, { bytesSeconds: 2, inodesSeconds: 2 });
    const graceSet = getGrace(device, kind);
    syncFs(ct);
    const inodesNow = getQuota(device, kind, PROJID).inodesUsed;
    setLimits(device, kind, PROJID, { bytesSoft: 10 * MiB, bytesHard: 60 * MiB, inodesSoft: inodesNow + 5, inodesHard: inodesNow + 100 });
    const pastSoft = ddWrite(path.join(ct, 'soft'), 15);
    const softFiles = path.join(ct, 'softfiles');
    fs.mkdirSync(softFiles, { mode: 0o777 });
    const filesPastSoft = touchMany(softFiles, 10).created;
    // XFS starts a grace timer when a transaction moves the on-disk count past the soft limit:
    // delayed allocation defers that to writeback, so write back now (ext4 counts reservations).
    syncFs(ct);
    const quotaPastSoft = getQuota(device, kind, PROJID);
    const statfsPastSoft = statfsView(ct);
    const now = Math.floor(Date.now() / 1000);
    const w0 = Date.now();
    // Both file systems refuse once now > expiry (seconds): wait for the later expiry + 1 s.
    const until = Math.max(quotaPastSoft.bytesGraceExpires ?? now + 2, quotaPastSoft.inodesGraceExpires ?? now + 2) + 1;
    while (Date.now() / 1000 < until + 0.2) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    const afterExpiry = ddWrite(path.join(ct, 'soft'), 1, true); // no new inode: blocks only
    const late = touchMany(softFiles, 1, 'late');
    const fileAfterExpiry = late.error ?? 'ok';
    r.grace = {
      graceBefore,
      graceSet,
      pastSoft,
      filesPastSoft,
      quotaPastSoft,
      statfsPastSoft,
      now,
      waitedMs: Date.now() - w0,
      afterExpiry,
      fileAfterExpiry,
      quotaAfterExpiry: getQuota(device, kind, PROJID),
    };
    setGrace(device, kind, graceBefore);
    lap('grace', t);

    // Moving a file of another project into the project directory.
    fs.writeFileSync(path.join(dir, 'outside'), 'o');
    try {
      fs.renameSync(path.join(dir, 'outside'), path.join(ct, 'moved'));
      r.renameIn = 'ok';
    } catch (e) {
      r.renameIn = code(e);
    }
    try {
      fs.linkSync(path.join(dir, 'outside'), path.join(ct, 'linked'));
      r.linkIn = 'ok';
    } catch (e) {
      r.linkIn = code(e);
    }

    // clearProject: no limits left; the same big write succeeds.
    t = Date.now();
    for (const n of ['soft', 'softfiles']) fs.rmSync(path.join(ct, n), { recursive: true, force: true });
    const returned = clearProject(device, kind, PROJID);
    r.cleared = { returned, quota: getQuota(device, kind, PROJID), write: ddWrite(path.join(ct, 'big2'), 70), statfsDir: statfsView(ct) };
    lap('cleared', t);
    emptyDir(ct);
  } catch (e) {
    r.error = (e as Error).stack ?? String(e);
  } finally {
    if (bind) getLibc().umount2(bind, 0);
    if (lf) {
      try {
        lf.cleanup();
      } catch (e) {
        r.error = `${r.error ?? ''}\ncleanup: ${(e as Error).message}`;
      }
      r.leftovers = {
        loopDevices: loopDevicesBackedBy((b) => b === lf!.image),
        mounts: mountsUnder(lf.tmp),
        tmpExists: fs.existsSync(lf.tmp),
      };
    }
  }

  // Misconfigured file systems: the reasons must say what to change.
  let t = Date.now();
  let plain: LoopFs | undefined;
  try {
    plain = makeLoopFs(kind, sizeOf(kind), { mountOptions: '' });
    fs.mkdirSync(path.join(plain.dir, 'ct'));
    const support = projectQuotaSupport(path.join(plain.dir, 'ct'));
    let setLimitsError: string | undefined;
    try {
      setLimits(plain.device, kind, PROJID, { bytesHard: MiB });
    } catch (e) {
      setLimitsError = (e as Error).message;
    }
    r.noPrjquota = { support, setLimitsError };
  } catch (e) {
    r.error = `${r.error ?? ''}\nnoPrjquota: ${(e as Error).stack}`;
  } finally {
    plain?.cleanup();
  }
  if (kind === 'ext4') {
    let bare: LoopFs | undefined;
    try {
      bare = makeLoopFs(kind, sizeOf(kind), { mkfsArgs: ['mkfs.ext4', '-q', '-F', '-b', '4096'], mountOptions: '' });
      fs.mkdirSync(path.join(bare.dir, 'ct'));
      const support = projectQuotaSupport(path.join(bare.dir, 'ct'));
      let setProjectError: string | undefined;
      try {
        setProject(path.join(bare.dir, 'ct'), PROJID);
      } catch (e) {
        setProjectError = (e as Error).message;
      }
      r.noFeature = { support, setProjectError };
    } catch (e) {
      r.error = `${r.error ?? ''}\nnoFeature: ${(e as Error).stack}`;
    } finally {
      bare?.cleanup();
    }
  }
  lap('misconfigured', t);
  lap('total', t0);
  return r;
}
