/**
 * File primitives for cgroupfs: reads that tolerate missing files, one-syscall writes whose
 * errno becomes a VzError naming file and value, and mkdir/rmdir that also work on the fake
 * trees the unit tests build (`fake`: plain directories + files instead of a cgroup mount; what the
 * kernel would do there is done by test/support/fake-cgroupfs.ts through emulateCgroupfs).
 */
import { sleepMs } from '../sys/sleep.js';
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VzError, systemError } from '../base/errors.js';

/** Anything at or above this reads as "unlimited" (v1 prints PAGE_COUNTER_MAX * PAGE_SIZE ~ 2^63). */
const UNLIMITED_FLOOR = 2 ** 62;

type WriteObserver = (file: string, value: string) => void;
let observer: WriteObserver | undefined;

/** Test hook: sees every successful write in order (a fake file only keeps the last value). */
export function observeWrites(fn: WriteObserver | undefined): void {
  observer = fn;
}

/**
 * What a tree that is no cgroupfs needs done by hand where the kernel would do it. Installed by the
 * unit tests' fake cgroupfs (test/support/fake-cgroupfs.ts); nothing is installed in production.
 */
export interface CgroupfsEmulation {
  /** After mkdir of a cgroup: the files the kernel would give it. */
  created(dir: string): void;
  /** Before rmdir of a cgroup: the plain files, which a kernel cgroup dir does not count. */
  removing(dir: string): void;
}
let emulation: CgroupfsEmulation | undefined;

/** Test hook: how fake trees (`fake` below) get what the kernel would do. */
export function emulateCgroupfs(e: CgroupfsEmulation | undefined): void {
  emulation = e;
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/** The file's text, or undefined if it (or its controller) does not exist. */
export function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return undefined;
    throw systemError(`cannot read ${file}`, e, { code: 'SYSTEM' });
  }
}

/** A single number; "max" and v1's near-2^63 "unlimited" come back as Infinity. */
export function readNumber(file: string): number | undefined {
  const t = readText(file)?.trim();
  if (t === undefined || t === '') return undefined;
  if (t === 'max' || t === '-1') return Infinity;
  const n = Number(t.split(/\s+/)[0]);
  if (Number.isNaN(n)) return undefined;
  return n >= UNLIMITED_FLOOR ? Infinity : n;
}

/** Flat keyed files ("key value" per line): memory.stat, cpu.stat, *.events, oom_control. */
export function readKeyed(file: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of (readText(file) ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) m.set(k, v === 'max' ? Infinity : Number(v));
  }
  return m;
}

/** Pids listed in a cgroup.procs file (missing file = none). */
export function readPids(file: string): number[] {
  return (readText(file) ?? '').split('\n').filter(Boolean).map(Number);
}

/** Errnos with which the kernel says "this value is not acceptable here" rather than "broken". */
const REFUSED = new Set(['EINVAL', 'EBUSY', 'ERANGE', 'ENOSPC', 'EOVERFLOW', 'ENODEV', 'ESRCH', 'EDEADLK', 'EOPNOTSUPP']);

export function cgroupWriteError(file: string, value: string, what: string, e: unknown, ctid?: number): VzError {
  const code = errno(e);
  const msg = (e as Error)?.message?.replace(/^\w+: /, '').replace(/, open '.*'$|, write$/, '') ?? String(e);
  const where = `writing "${value}" to ${file}`;
  if (code && REFUSED.has(code)) return new VzError('INVALID', `${what} refused by the kernel: ${code} (${msg}) ${where}`, { ctid, cause: e });
  if (code === 'ENOENT') {
    return new VzError('SYSTEM', `${what}: ${file} does not exist (controller not mounted or not enabled?)`, { ctid, cause: e });
  }
  return systemError(`${what} (${where})`, e, { ctid, code: 'SYSTEM' });
}

/**
 * Writes one value with one write(2): the kernel parses each write on its own and rejects
 * partial ones. No O_CREAT, so a missing control file is an error here as on a real cgroupfs;
 * O_WRONLY because some control files (cgroup.kill, devices.allow) refuse to be opened for reading.
 */
export function writeValue(file: string, value: string | number, what: string, ctid?: number): void {
  const v = String(value);
  let fd: number;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_TRUNC);
  } catch (e) {
    throw cgroupWriteError(file, v, what, e, ctid);
  }
  try {
    writeFileSync(fd, v);
  } catch (e) {
    throw cgroupWriteError(file, v, what, e, ctid);
  } finally {
    closeSync(fd);
  }
  observer?.(file, v);
}

/** Names of the sub-directories (child cgroups) of dir; none if dir is missing. */
export function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch (e) {
    if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return [];
    throw systemError(`cannot list ${dir}`, e, { code: 'SYSTEM' });
  }
}

/** dir and all its descendant cgroups, parents before children. */
export function cgroupTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    out.push(d);
    for (const c of subdirs(d)) walk(join(d, c));
  };
  if (exists(dir)) walk(dir);
  return out;
}

export function exists(path: string): boolean {
  return existsSync(path);
}

/** mkdir one cgroup level; returns true if it was created. On a fake tree the emulation fills it in. */
export function mkdirCgroup(dir: string, fake: boolean): boolean {
  try {
    mkdirSync(dir);
  } catch (e) {
    if (errno(e) === 'EEXIST') return false;
    throw systemError(`cannot create cgroup ${dir}`, e, { code: 'SYSTEM' });
  }
  if (fake) emulation?.created(dir);
  return true;
}

/**
 * Removes a cgroup and every sub-cgroup below it, deepest first (a cgroup rmdir only succeeds
 * once it has no children and no tasks). Missing dirs are fine. On a fake tree the emulation
 * unlinks the plain files first, so ENOTEMPTY still means "a child cgroup was left" as on the real fs.
 */
export function removeCgroupTree(dir: string, fake: boolean): void {
  for (const c of subdirs(dir)) removeCgroupTree(join(dir, c), fake);
  try {
    if (fake) emulation?.removing(dir);
    rmdirSync(dir);
  } catch (e) {
    if (errno(e) === 'ENOENT') return;
    throw systemError(`cannot remove cgroup ${dir}`, e, { code: 'SYSTEM' });
  }
}

export { sleepMs } from '../sys/sleep.js';

/** Polls pred with a growing interval (1 ms .. 50 ms) until it holds or timeoutMs passed. */
export function waitUntil(pred: () => boolean, timeoutMs: number): boolean {
  const end = Date.now() + timeoutMs;
  for (let step = 1; ; step = Math.min(step * 2, 50)) {
    if (pred()) return true;
    if (Date.now() >= end) return false;
    sleepMs(Math.min(step, Math.max(1, end - Date.now())));
  }
}
