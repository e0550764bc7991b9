import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { readFileInRoot, writeFileInRoot } from '../../../src/sys/rootwrite.js';

// A fake container root in a tmp dir: openat2(RESOLVE_IN_ROOT) needs no privileges.
let top: string;
let root: string;
const me = { uid: process.getuid!(), gid: process.getgid!() };

beforeEach(() => {
  top = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-rootwrite-'));
  root = path.join(top, 'ct');
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
});
afterEach(() => fs.rmSync(top, { recursive: true, force: true }));

describe('rootwrite', () => {
  it('refuses a FIFO at once, for reading and for writing, and leaves it alone', () => {
    const fifo = path.join(root, 'etc/shadow');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const t0 = Date.now();
    expect(() => readFileInRoot(root, 'etc/shadow')).toThrow(/^\/etc\/shadow in the container is a FIFO, not a regular file: not read$/);
    expect(() => writeFileInRoot(root, 'etc/shadow', 'x\n', me)).toThrow(/is a FIFO, not a regular file: not written/);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(fs.lstatSync(fifo).isFIFO()).toBe(true);
    expect(fs.readdirSync(path.join(root, 'etc'))).toEqual(['shadow']);
  });

  it('refuses a directory and a file over the cap without reading it', () => {
    fs.mkdirSync(path.join(root, 'etc/passwd'));
    expect(() => readFileInRoot(root, 'etc/passwd')).toThrow(/is a directory/);
    fs.rmdirSync(path.join(root, 'etc/passwd'));
    fs.writeFileSync(path.join(root, 'etc/group'), '');
    fs.writeFileSync(path.join(root, 'etc/passwd'), '');
    fs.truncateSync(path.join(root, 'etc/passwd'), 400 * 1024 * 1024); // sparse
    expect(() => readFileInRoot(root, 'etc/passwd')).toThrow(/larger than 16 MiB: not read/);
    expect(readFileInRoot(root, 'etc/group')).toBe('');
    expect(readFileInRoot(root, 'etc/nothing')).toBeUndefined();
  });

  it('replaces a file atomically, keeping its mode, and leaves no temporary file', () => {
    const f = path.join(root, 'etc/shadow');
    fs.writeFileSync(f, 'old\n', { mode: 0o640 });
    fs.chmodSync(f, 0o640);
    const ino = fs.statSync(f).ino;
    writeFileInRoot(root, 'etc/shadow', 'new\n', { ...me, mode: 0o600 });
    expect(fs.readFileSync(f, 'utf8')).toBe('new\n');
    expect(fs.statSync(f).mode & 0o7777).toBe(0o640);
    expect(fs.statSync(f).ino).not.toBe(ino);
    expect(fs.readdirSync(path.join(root, 'etc'))).toEqual(['shadow']);
    writeFileInRoot(root, 'etc/hostname', 'ct\n', { ...me, mode: 0o644 });
    expect(fs.statSync(path.join(root, 'etc/hostname')).mode & 0o777).toBe(0o644);
  });

  it('resolves planted links inside the root: a host file is never touched, the link stays a link', () => {
    const host = path.join(top, 'host-file');
    fs.writeFileSync(host, 'host\n');
    fs.mkdirSync(path.join(root, path.dirname(host)), { recursive: true });
    fs.writeFileSync(path.join(root, host), 'inside\n');
    fs.symlinkSync(`../../../../../../../..${host}`, path.join(root, 'etc/hosts'));
    expect(readFileInRoot(root, 'etc/hosts')).toBe('inside\n');
    writeFileInRoot(root, 'etc/hosts', 'written\n', me);
    expect(fs.readFileSync(host, 'utf8')).toBe('host\n');
    expect(fs.readFileSync(path.join(root, host), 'utf8')).toBe('written\n');
    expect(fs.lstatSync(path.join(root, 'etc/hosts')).isSymbolicLink()).toBe(true);
    // A dangling link: its target is made inside the root, as a shell's > would.
    fs.symlinkSync(path.join(path.dirname(host), 'new-file'), path.join(root, 'etc/resolv.conf'));
    writeFileInRoot(root, 'etc/resolv.conf', 'ns\n', me);
    expect(fs.existsSync(path.join(path.dirname(host), 'new-file'))).toBe(false);
    expect(fs.readFileSync(path.join(root, path.dirname(host), 'new-file'), 'utf8')).toBe('ns\n');
  });
});
