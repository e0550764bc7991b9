/**
 * The seccomp deny filter of ctspawn (native/harden.c), as the kernel would run it: a tiny C
 * program builds it with the same function ctspawn uses and exports libseccomp's BPF; this test
 * replays that program with bpf.ts for every syscall number of every x86 ABI, taking the
 * numbers from the kernel's own headers (asm/unistd_{64,32,x32}.h), not from libseccomp.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseBpf, run, type Insn } from './bpf.js';
import { DENIED, MISSING } from '../../probe/denied.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const EPERM = 1;
const ENOSYS = 38;
const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;
const X32_BIT = 0x40000000;
const RET_ALLOW = 0x7fff0000;
const retErrno = (e: number) => (0x00050000 | e) >>> 0;

/** The documented list (native/harden.h): name -> errno number. */
const DENY: Record<string, number> = Object.fromEntries(Object.entries(DENIED).map(([n, e]) => [n, e === 'EPERM' ? EPERM : ENOSYS]));

/** __NR_name -> number from a kernel uapi header (linux-libc-dev). */
function kernelNumbers(abi: '64' | '32' | 'x32'): Map<string, number> {
  const file = `/usr/include/x86_64-linux-gnu/asm/unistd_${abi}.h`;
  const m = new Map<string, number>();
  for (const [, name, x32, n] of fs.readFileSync(file, 'utf8').matchAll(/^#define __NR_(\w+) (\(__X32_SYSCALL_BIT \+ )?(\d+)\)?$/gm)) {
    m.set(name, Number(n) + (x32 ? X32_BIT : 0));
  }
  if (m.size < 300) throw new Error(`${file}: only ${m.size} syscalls`);
  return m;
}

/** Compiles harden-export.c with ctspawn's harden.c into dir. */
function buildExport(dir: string): string {
  const exe = path.join(dir, 'harden-export');
  if (fs.existsSync(exe)) return exe;
  const cc = spawnSync('gcc', ['-std=gnu11', '-D_GNU_SOURCE', '-Wall', '-Werror', '-I', path.join(REPO, 'native'), '-o', exe,
    path.join(REPO, 'test/unit/native/harden-export.c'), path.join(REPO, 'native/harden.c'), '-lseccomp'], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`gcc (libseccomp-dev installed? sh scripts/setup.sh): ${cc.stderr}`);
  return exe;
}

/** The kinds CRIU cannot dump nested (harden_ns_blocked): name -> CLONE_NEW* flag. */
const NS_BLOCKED: Record<string, number> = { uts: 0x04000000, ipc: 0x08000000, pid: 0x20000000, user: 0x10000000, cgroup: 0x02000000, time: 0x80 };
const CLONE_NEWNS = 0x00020000;
const CLONE_NEWNET = 0x40000000;
const SIGCHLD = 17;

describe('seccomp namespace policy (nesting off, the default), replayed with arguments', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-harden-ns-'));
  let prog: Insn[];
  let nested: Insn[];
  let kinds: Record<string, number>;
  const nr64 = kernelNumbers('64');
  const nr32 = kernelNumbers('32');
  const call = (p: Insn[], arch: number, nr: number, ...args: number[]) => run(p, { nr, arch, args: args.map((a) => BigInt(a)) });

  beforeAll(() => {
    const exe = buildExport(dir);
    const out = spawnSync(exe, [path.join(dir, 'ns.bpf')], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`harden-export: ${out.stderr}`);
    kinds = Object.fromEntries([...out.stdout.matchAll(/^ns (\w+) (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
    prog = parseBpf(fs.readFileSync(path.join(dir, 'ns.bpf')));
    const out2 = spawnSync(exe, [path.join(dir, 'nest.bpf'), 'nesting'], { encoding: 'utf8' });
    if (out2.status !== 0) throw new Error(`harden-export: ${out2.stderr}`);
    nested = parseBpf(fs.readFileSync(path.join(dir, 'nest.bpf')));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the one list of blocked kinds is UTS, IPC, PID, user, cgroup and time', () => {
    expect(kinds).toEqual(NS_BLOCKED);
  });

  it.each(Object.entries(NS_BLOCKED))('%s: unshare and setns get EPERM on x86_64 and i386, clone too (but for time, which clone cannot ask)', (name, flag) => {
    for (const [arch, nrs] of [[AUDIT_ARCH_X86_64, nr64], [AUDIT_ARCH_I386, nr32]] as const) {
      expect(call(prog, arch, nrs.get('unshare')!, flag | CLONE_NEWNS), `unshare ${name}`).toBe(retErrno(EPERM));
      expect(call(prog, arch, nrs.get('setns')!, 3, flag), `setns ${name}`).toBe(retErrno(EPERM));
      expect(call(prog, arch, nrs.get('clone')!, flag | SIGCHLD), `clone ${name}`).toBe(name === 'time' ? RET_ALLOW : retErrno(EPERM));
    }
  });

  it('a node whose CRIU dumps nested UTS and IPC (patch 0003) allows just those two kinds', () => {
    const out = spawnSync(buildExport(dir), [path.join(dir, 'allow.bpf'), 'allow=uts,ipc'], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`harden-export: ${out.stderr}`);
    const p = parseBpf(fs.readFileSync(path.join(dir, 'allow.bpf')));
    for (const [name, flag] of Object.entries(NS_BLOCKED)) {
      const want = name === 'uts' || name === 'ipc' ? RET_ALLOW : retErrno(EPERM);
      expect(call(p, AUDIT_ARCH_X86_64, nr64.get('unshare')!, flag), `unshare ${name}`).toBe(want);
      expect(call(p, AUDIT_ARCH_X86_64, nr64.get('setns')!, 3, flag), `setns ${name}`).toBe(want);
      expect(call(p, AUDIT_ARCH_I386, nr32.get('unshare')!, flag), `unshare ${name} (i386)`).toBe(want);
      if (name !== 'time') expect(call(p, AUDIT_ARCH_X86_64, nr64.get('clone')!, flag | SIGCHLD), `clone ${name}`).toBe(want);
    }
    // Together with a kind still refused: refused.
    expect(call(p, AUDIT_ARCH_X86_64, nr64.get('unshare')!, NS_BLOCKED.uts! | NS_BLOCKED.pid!)).toBe(retErrno(EPERM));
    expect(spawnSync(buildExport(dir), [path.join(dir, 'bad.bpf'), 'allow=net'], { encoding: 'utf8' }).status).toBe(2);
  });

  it('mount and network namespaces, fork-style clone, threads and setns into them stay allowed', () => {
    expect(call(prog, AUDIT_ARCH_X86_64, nr64.get('unshare')!, CLONE_NEWNS | CLONE_NEWNET)).toBe(RET_ALLOW);
    expect(call(prog, AUDIT_ARCH_X86_64, nr64.get('clone')!, 0x01200000 | SIGCHLD)).toBe(RET_ALLOW); // fork()
    expect(call(prog, AUDIT_ARCH_X86_64, nr64.get('clone')!, 0x003d0f00)).toBe(RET_ALLOW); // pthread_create
    expect(call(prog, AUDIT_ARCH_X86_64, nr64.get('clone')!, 0x80 | CLONE_NEWNET)).toBe(RET_ALLOW); // exit signal 0x80 is no time namespace
    expect(call(prog, AUDIT_ARCH_X86_64, nr64.get('setns')!, 3, CLONE_NEWNET)).toBe(RET_ALLOW);
    expect(call(prog, AUDIT_ARCH_X86_64, nr64.get('setns')!, 3, 0)).toBe(RET_ALLOW);
  });

  it('clone3 gets ENOSYS (glibc falls back to clone); with nesting on, all of it is allowed', () => {
    expect(call(prog, AUDIT_ARCH_X86_64, nr64.get('clone3')!, 0, 88)).toBe(retErrno(ENOSYS));
    expect(call(prog, AUDIT_ARCH_I386, nr32.get('clone3')!, 0, 88)).toBe(retErrno(ENOSYS));
    expect(call(nested, AUDIT_ARCH_X86_64, nr64.get('clone3')!, 0, 88)).toBe(RET_ALLOW);
    for (const flag of Object.values(NS_BLOCKED)) {
      expect(call(nested, AUDIT_ARCH_X86_64, nr64.get('unshare')!, flag)).toBe(RET_ALLOW);
      expect(call(nested, AUDIT_ARCH_X86_64, nr64.get('setns')!, 3, flag)).toBe(RET_ALLOW);
    }
    // The deny list itself is the same either way.
    expect(call(prog, AUDIT_ARCH_X86_64, nr64.get('bpf')!)).toBe(retErrno(EPERM));
  });
});

describe('seccomp deny filter (native/harden.c via libseccomp), replayed', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-harden-'));
  let prog: Insn[];
  let table: Map<string, number>;
  const nr64 = kernelNumbers('64');
  const nr32 = kernelNumbers('32');
  const nrx32 = kernelNumbers('x32');
  const verdict = (arch: number, nr: number) => run(prog, { nr, arch });

  beforeAll(() => {
    // With nesting on: the deny list alone (the namespace rules are replayed above).
    const exe = buildExport(dir);
    const out = spawnSync(exe, [path.join(dir, 'filter.bpf'), 'nesting'], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`harden-export: ${out.stderr}`);
    table = new Map(out.stdout.trim().split('\n').filter((l) => !l.startsWith('ns ')).map((l) => { const [n, e] = l.split(' '); return [n, Number(e)]; }));
    prog = parseBpf(fs.readFileSync(path.join(dir, 'filter.bpf')));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the table in harden.c is the documented list, and harden.h names every entry', () => {
    expect(Object.fromEntries(table)).toEqual(DENY);
    const doc = fs.readFileSync(path.join(REPO, 'native/harden.h'), 'utf8');
    for (const name of Object.keys(DENY)) expect(doc, name).toMatch(new RegExp(`\\b${name}\\b`));
  });

  it.each(Object.entries(DENY))('%s is refused through x86_64 with errno %i', (name, err) => {
    expect(nr64.has(name), `${name} in unistd_64.h`).toBe(true);
    expect(verdict(AUDIT_ARCH_X86_64, nr64.get(name)!)).toBe(retErrno(err));
  });

  it.each(Object.entries(DENY).filter(([n]) => nr32.has(n)))('%s is refused through i386 (int 0x80) with errno %i', (name, err) => {
    expect(verdict(AUDIT_ARCH_I386, nr32.get(name)!)).toBe(retErrno(err));
  });

  it('each ABI lacks only what the probe skips (test/probe/denied.ts)', () => {
    expect(Object.keys(DENY).filter((n) => !nr64.has(n))).toEqual(MISSING.x86_64);
    expect(Object.keys(DENY).filter((n) => !nr32.has(n))).toEqual(MISSING.i386);
    expect(Object.keys(DENY).filter((n) => !nrx32.has(n))).toEqual(MISSING.x32);
  });

  it('every other x86_64 and i386 syscall is allowed (read, write, openat, clone, execve, socketcall...)', () => {
    for (const [abi, arch, nrs] of [['x86_64', AUDIT_ARCH_X86_64, nr64], ['i386', AUDIT_ARCH_I386, nr32]] as const) {
      const wrong = [...nrs].filter(([n, nr]) => !(n in DENY) && verdict(arch, nr) !== RET_ALLOW).map(([n]) => n);
      expect(wrong, abi).toEqual([]);
    }
    for (const n of ['read', 'write', 'openat', 'clone', 'clone3', 'execve', 'mmap', 'sysinfo', 'reboot', 'seccomp']) {
      expect(verdict(AUDIT_ARCH_X86_64, nr64.get(n)!), n).toBe(RET_ALLOW);
    }
    for (const n of ['read', 'write', 'open', 'openat', 'clone', 'execve', 'mmap2', 'socketcall', 'sysinfo']) {
      expect(verdict(AUDIT_ARCH_I386, nr32.get(n)!), n).toBe(RET_ALLOW);
    }
  });

  it('a number that means something else in the other ABI is judged by its own ABI (the old bug)', () => {
    // i386 keyctl is 288, x86_64 288 is accept4; x86_64 keyctl is 250, i386 250 is fadvise64.
    expect(verdict(AUDIT_ARCH_I386, 288)).toBe(retErrno(ENOSYS));
    expect(verdict(AUDIT_ARCH_X86_64, 288)).toBe(RET_ALLOW);
    expect(verdict(AUDIT_ARCH_I386, 250)).toBe(RET_ALLOW);
  });

  it('x32 (x86_64 numbers with __X32_SYSCALL_BIT) is refused whole with ENOSYS, and so is any other ABI', () => {
    const wrong = [...nrx32].filter(([, nr]) => verdict(AUDIT_ARCH_X86_64, nr) !== retErrno(ENOSYS)).map(([n]) => n);
    expect(wrong).toEqual([]);
    expect(nrx32.get('keyctl')).toBe(X32_BIT + 250);
    expect(verdict(AUDIT_ARCH_X86_64, (X32_BIT | 0x3fffffff) >>> 0)).toBe(retErrno(ENOSYS));
    expect(verdict(AUDIT_ARCH_AARCH64, nr64.get('read')!)).toBe(retErrno(ENOSYS));
    expect(verdict(AUDIT_ARCH_AARCH64, 0)).toBe(retErrno(ENOSYS));
  });
});
