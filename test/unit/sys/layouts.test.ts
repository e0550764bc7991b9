/**
 * Every kernel struct layout in src/sys, and the numbers passed with them, against the real kernel
 * headers: a C program including the headers each layout names is written, compiled with gcc and
 * run; it prints sizeof and, for each field the TS code reads or writes, offsetof, sizeof and
 * signedness, and the values of the constants. A layout found in a src/sys module is checked
 * without being listed here, so a new struct cannot escape the check.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isLayout, type Layout, type Field } from '../../../src/sys/struct.js';
import * as loop from '../../../src/sys/loop.js';
import * as quotactl from '../../../src/sys/quotactl.js';
import * as fsattr from '../../../src/sys/fsattr.js';
import * as openat2 from '../../../src/sys/openat2.js';
import { SYS_ioctl } from '../../../src/sys/ioctl.js';
import * as ioprio from '../../../src/sys/ioprio.js';
import * as mounts from '../../../src/sys/mounts.js';

const REPO = path.resolve(import.meta.dirname, '../../..');
const SYS = path.join(REPO, 'src/sys');

/** The layouts every src/sys module exports, by struct name. */
async function allLayouts(): Promise<Layout[]> {
  const out: Layout[] = [];
  for (const f of fs.readdirSync(SYS).filter((n) => n.endsWith('.ts')).sort()) {
    const mod = (await import(path.join(SYS, f))) as Record<string, unknown>;
    for (const v of Object.values(mod)) if (isLayout(v)) out.push(v);
  }
  return out;
}

/** [C expression, TS value, header it needs (or a guard macro: checked only where defined)]. */
const CONSTANTS: Array<[string, number | bigint, string, string?]> = [
  ['LOOP_CLR_FD', loop.LOOP_CLR_FD, '<linux/loop.h>'],
  ['LOOP_GET_STATUS64', loop.LOOP_GET_STATUS64, '<linux/loop.h>'],
  ['LOOP_SET_CAPACITY', loop.LOOP_SET_CAPACITY, '<linux/loop.h>'],
  ['LOOP_CONFIGURE', loop.LOOP_CONFIGURE, '<linux/loop.h>'],
  ['LOOP_CTL_GET_FREE', loop.LOOP_CTL_GET_FREE, '<linux/loop.h>'],
  ['LO_FLAGS_READ_ONLY', loop.LO_FLAGS_READ_ONLY, '<linux/loop.h>'],
  ['LO_FLAGS_AUTOCLEAR', loop.LO_FLAGS_AUTOCLEAR, '<linux/loop.h>'],
  ['LO_NAME_SIZE', loop.LO_NAME_SIZE, '<linux/loop.h>'],
  ['FS_IOC_FSGETXATTR', fsattr.FS_IOC_FSGETXATTR, '<linux/fs.h>'],
  ['FS_IOC_FSSETXATTR', fsattr.FS_IOC_FSSETXATTR, '<linux/fs.h>'],
  ['FS_XFLAG_PROJINHERIT', fsattr.FS_XFLAG_PROJINHERIT, '<linux/fs.h>'],
  ['FILE_ATTR_SIZE_VER0', fsattr.FILE_ATTR_SIZE_VER0, '<linux/fs.h>', 'FILE_ATTR_SIZE_VER0'],
  ['__NR_file_getattr', fsattr.SYS_file_getattr, '<sys/syscall.h>', '__NR_file_getattr'],
  ['__NR_file_setattr', fsattr.SYS_file_setattr, '<sys/syscall.h>', '__NR_file_setattr'],
  ['RESOLVE_NO_XDEV', openat2.RESOLVE_NO_XDEV, '<linux/openat2.h>'],
  ['RESOLVE_NO_MAGICLINKS', openat2.RESOLVE_NO_MAGICLINKS, '<linux/openat2.h>'],
  ['RESOLVE_NO_SYMLINKS', openat2.RESOLVE_NO_SYMLINKS, '<linux/openat2.h>'],
  ['RESOLVE_BENEATH', openat2.RESOLVE_BENEATH, '<linux/openat2.h>'],
  ['RESOLVE_IN_ROOT', openat2.RESOLVE_IN_ROOT, '<linux/openat2.h>'],
  ['O_PATH', openat2.O_PATH, '<fcntl.h>'],
  ['O_CLOEXEC', openat2.O_CLOEXEC, '<fcntl.h>'],
  ['__NR_openat2', openat2.SYS_openat2, '<sys/syscall.h>'],
  ['__NR_ioctl', SYS_ioctl, '<sys/syscall.h>'],
  ['__NR_quotactl', quotactl.SYS_quotactl, '<sys/syscall.h>'],
  ['PRJQUOTA', quotactl.PRJQUOTA, '<linux/quota.h>'],
  ['(int)QCMD(Q_GETQUOTA, PRJQUOTA)', quotactl.qcmd(quotactl.Q_GETQUOTA, quotactl.PRJQUOTA), '<linux/quota.h>'],
  ['(int)QCMD(Q_SETQUOTA, PRJQUOTA)', quotactl.qcmd(quotactl.Q_SETQUOTA, quotactl.PRJQUOTA), '<linux/quota.h>'],
  ['(int)QCMD(Q_GETINFO, PRJQUOTA)', quotactl.qcmd(quotactl.Q_GETINFO, quotactl.PRJQUOTA), '<linux/quota.h>'],
  ['(int)QCMD(Q_SETINFO, PRJQUOTA)', quotactl.qcmd(quotactl.Q_SETINFO, quotactl.PRJQUOTA), '<linux/quota.h>'],
  ['(int)QCMD(Q_XGETQUOTA, XQM_PRJQUOTA)', quotactl.qcmd(quotactl.Q_XGETQUOTA, quotactl.PRJQUOTA), '<linux/dqblk_xfs.h>'],
  ['(int)QCMD(Q_XSETQLIM, XQM_PRJQUOTA)', quotactl.qcmd(quotactl.Q_XSETQLIM, quotactl.PRJQUOTA), '<linux/dqblk_xfs.h>'],
  ['(int)QCMD(Q_XGETQSTAT, XQM_PRJQUOTA)', quotactl.qcmd(quotactl.Q_XGETQSTAT, quotactl.PRJQUOTA), '<linux/dqblk_xfs.h>'],
  ['QIF_DQBLKSIZE', quotactl.QIF_DQBLKSIZE, '<linux/quota.h>'],
  ['QIF_LIMITS', quotactl.QIF_LIMITS, '<linux/quota.h>'],
  ['QIF_ALL', quotactl.QIF_ALL, '<linux/quota.h>'],
  ['IIF_BGRACE', quotactl.IIF_BGRACE, '<linux/quota.h>'],
  ['IIF_IGRACE', quotactl.IIF_IGRACE, '<linux/quota.h>'],
  ['FS_DQUOT_VERSION', quotactl.FS_DQUOT_VERSION, '<linux/dqblk_xfs.h>'],
  ['FS_PROJ_QUOTA', quotactl.FS_PROJ_QUOTA, '<linux/dqblk_xfs.h>'],
  ['(FS_DQ_ISOFT | FS_DQ_IHARD | FS_DQ_BSOFT | FS_DQ_BHARD)', quotactl.FS_DQ_LIMITS, '<linux/dqblk_xfs.h>'],
  ['FS_DQ_BIGTIME', quotactl.FS_DQ_BIGTIME, '<linux/dqblk_xfs.h>'],
  ['FS_QUOTA_PDQ_ACCT', quotactl.FS_QUOTA_PDQ_ACCT, '<linux/dqblk_xfs.h>'],
  ['FS_QUOTA_PDQ_ENFD', quotactl.FS_QUOTA_PDQ_ENFD, '<linux/dqblk_xfs.h>'],
  ['__NR_ioprio_set', ioprio.SYS_ioprio_set, '<sys/syscall.h>'],
  ['IOPRIO_WHO_PROCESS', ioprio.IOPRIO_WHO_PROCESS, '<linux/ioprio.h>'],
  ['IOPRIO_CLASS_BE', ioprio.IOPRIO_CLASS_BE, '<linux/ioprio.h>'],
  ['IOPRIO_CLASS_SHIFT', ioprio.IOPRIO_CLASS_SHIFT, '<linux/ioprio.h>'],
  ['MS_BIND', mounts.MS_BIND, '<linux/mount.h>'],
  ['MS_REC', mounts.MS_REC, '<linux/mount.h>'],
  ['MS_PRIVATE', mounts.MS_PRIVATE, '<linux/mount.h>'],
];

const WIDTH: Record<Exclude<Field['type'], 'chars'>, [number, boolean]> = {
  u8: [1, false],
  s8: [1, true],
  u16: [2, false],
  u32: [4, false],
  s32: [4, true],
  u64: [8, false],
};

/** What the TS side says, in the lines the C program prints. */
function expected(l: Layout): string[] {
  const lines = [`struct ${l.name} size ${l.size}`];
  for (const f of Object.values(l.fields)) {
    const [width, signed] = f.type === 'chars' ? [f.length!, undefined] : WIDTH[f.type];
    lines.push(`struct ${l.name} .${f.c} offset ${f.offset} size ${width}${signed === undefined ? '' : ` signed ${signed ? 1 : 0}`}`);
  }
  return lines;
}

/** The C program printing the same lines from the headers. */
function cProgram(layouts: Layout[]): string {
  const headers = new Set(['<stdio.h>', '<stddef.h>', ...layouts.map((l) => l.header), ...CONSTANTS.map((c) => c[2])]);
  // glibc's <fcntl.h> before the uapi headers; <linux/*> after it, as user space includes them.
  const order = [...headers].sort((a, b) => Number(a.startsWith('<linux/')) - Number(b.startsWith('<linux/')));
  const src = ['#define _GNU_SOURCE', ...order.map((h) => `#include ${h}`), 'int main(void) {'];
  for (const l of layouts) {
    const t = `struct ${l.name}`;
    if (l.guard) src.push(`#ifdef ${l.guard}`);
    src.push(`  printf("${t} size %zu\\n", sizeof(${t}));`);
    for (const f of Object.values(l.fields)) {
      const m = `((${t} *)0)->${f.c}`;
      const signed = f.type === 'chars' ? '' : ` signed %d`;
      const signedArg = f.type === 'chars' ? '' : `, (int)((__typeof__(${m}))-1 < 0)`;
      src.push(`  printf("${t} .${f.c} offset %zu size %zu${signed}\\n", offsetof(${t}, ${f.c}), sizeof(${m})${signedArg});`);
    }
    if (l.guard) src.push('#else', `  printf("absent ${t}\\n");`, '#endif');
  }
  for (const [expr, , , guard] of CONSTANTS) {
    if (guard) src.push(`#ifdef ${guard}`);
    src.push(`  printf("const ${expr} %lld\\n", (long long)(${expr}));`);
    if (guard) src.push('#else', `  printf("absent ${expr}\\n");`, '#endif');
  }
  src.push('  return 0;', '}', '');
  return src.join('\n');
}

let layouts: Layout[] = [];
let printed: string[] = [];
let tmp = '';

beforeAll(async () => {
  layouts = await allLayouts();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-layouts-'));
  const c = path.join(tmp, 'layouts.c');
  const exe = path.join(tmp, 'layouts');
  fs.writeFileSync(c, cProgram(layouts));
  const cc = spawnSync('gcc', ['-std=gnu11', '-Wall', '-Werror', '-o', exe, c], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`gcc failed (scripts/setup.sh installs it): ${cc.error?.message ?? cc.stderr}`);
  const run = spawnSync(exe, [], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`the layout program failed: ${run.stderr}`);
  printed = run.stdout.trim().split('\n');
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('kernel struct layouts (gcc against the real headers)', () => {
  it('finds the layouts of every struct the bindings pass', () => {
    expect(layouts.map((l) => l.name).sort()).toEqual(
      [
        'file_attr',
        'fs_disk_quota',
        'fs_quota_stat',
        'fsxattr',
        'if_dqblk',
        'if_dqinfo',
        'loop_config',
        'loop_info64',
        'mount_attr',
        'open_how',
        'posix_acl_xattr_entry',
        'posix_acl_xattr_header',
      ].sort(),
    );
  });

  it('every size, field offset, field width and signedness matches the headers', () => {
    let checked = 0;
    for (const l of layouts) {
      const got = printed.filter((line) => line.startsWith(`struct ${l.name} `));
      if (l.guard && printed.includes(`absent struct ${l.name}`)) {
        // Headers older than the struct (file_attr is Linux 6.17+): only its own consistency.
        const ends = Object.values(l.fields).map((f) => f.offset + (f.type === 'chars' ? f.length! : WIDTH[f.type][0]));
        expect(Math.max(...ends)).toBeLessThanOrEqual(l.size);
        continue;
      }
      expect(got, `struct ${l.name} in ${l.header}`).toEqual(expected(l));
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(layouts.length - 1);
  });

  it('every constant passed with them matches the headers', () => {
    for (const [expr, value, , guard] of CONSTANTS) {
      if (guard && printed.includes(`absent ${expr}`)) continue; // headers older than the constant
      expect(printed, expr).toContain(`const ${expr} ${BigInt(value)}`);
    }
  });
});

describe('the syscall layer', () => {
  /** Files below src/, quota/ and migrate/ outside src/sys whose text matches `re`. */
  function outsideSys(re: RegExp): string[] {
    const hits: string[] = [];
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts') && !p.startsWith(SYS + path.sep) && re.test(fs.readFileSync(p, 'utf8'))) hits.push(path.relative(REPO, p));
      }
    };
    for (const top of ['src', 'quota', 'migrate']) if (fs.existsSync(path.join(REPO, top))) walk(path.join(REPO, top));
    return hits;
  }

  it('struct layouts are defined only in src/sys', () => {
    expect(outsideSys(/from '[./]*(src\/)?sys\/struct\.js'/)).toEqual([]);
  });

  it('koffi and the raw libc bindings are used only in src/sys', () => {
    expect(outsideSys(/\bgetLibc\b|['"]koffi['"]/)).toEqual([]);
  });
});
