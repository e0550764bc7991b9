/**
 * What a dump records of a systemd container besides CRIU's images (src/criu/criu.ts): the cgroup2
 * tree through the dump's action script (run here as CRIU runs it, on a directory tree standing in
 * for the cgroup), the names it accepts, the --features parameter.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CGROUP_CTL_FILE, CGROUP_TREE_FILE, readCgroupControllers, readCgroupTree, recreateCgroupTree, validCgroupPath, walkCgroupTree, writeControllersHook, writeDumpHook } from '../../../src/criu/criu.js';
import { featureOn, parseFeatures, showFeatures } from '../../../src/config/features.js';
import { parseParams } from '../../../src/config/params.js';

describe('the cgroup tree of a dump', () => {
  let dir: string;
  let cg: string;
  const tree = ['init.scope', 'system.slice', 'system.slice/ssh.service', 'system.slice/system-getty.slice', "system.slice/o'dd name.service", 'user.slice'];
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "vzkit-cgtree-it's-"));
    cg = path.join(dir, 'cg');
    for (const d of tree) fs.mkdirSync(path.join(cg, d), { recursive: true });
    fs.writeFileSync(path.join(cg, 'system.slice', 'cgroup.events'), 'populated 0\n');
    // What a v2 systemd enables for its slices (the files of a real cgroup2 directory).
    for (const d of ['', ...tree]) fs.writeFileSync(path.join(cg, d, 'cgroup.subtree_control'), '');
    fs.writeFileSync(path.join(cg, 'cgroup.subtree_control'), 'memory pids\n');
    fs.writeFileSync(path.join(cg, 'system.slice', 'cgroup.subtree_control'), 'memory\n');
    fs.writeFileSync(path.join(cg, "system.slice/o'dd name.service", 'cgroup.subtree_control'), 'pids bogus\n');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("the action script records it at network-lock only, parents first; the flag too", () => {
    const out = path.join(dir, 'dump');
    fs.mkdirSync(out);
    const flag = path.join(dir, 'stopped flag');
    const script = writeDumpHook(dir, { flag, cgroupDir: cg, treeDir: out });
    const run = (action: string) => spawnSync(script, [], { env: { ...process.env, CRTOOLS_SCRIPT_ACTION: action }, encoding: 'utf8' });
    expect(run('pre-dump').status).toBe(0);
    expect(fs.existsSync(path.join(out, CGROUP_TREE_FILE))).toBe(false);
    expect(fs.existsSync(flag)).toBe(false);
    const r = run('network-lock');
    expect(r.status, r.stderr).toBe(0);
    expect(fs.existsSync(flag)).toBe(true);
    const got = readCgroupTree(out)!;
    expect([...got].sort()).toEqual([...tree].sort());
    expect(got.indexOf('system.slice')).toBeLessThan(got.indexOf('system.slice/ssh.service'));
    // Read once: it does not go along with the images.
    expect(fs.existsSync(path.join(out, CGROUP_TREE_FILE))).toBe(false);
    expect(readCgroupTree(out)).toBeUndefined();
    expect(walkCgroupTree(cg)).toEqual(got);
    // The controllers each directory enables (the container's own cgroup is ''); unknown words go.
    expect(readCgroupControllers(out)).toEqual({ '': ['memory', 'pids'], 'system.slice': ['memory'], "system.slice/o'dd name.service": ['pids'] });
    expect(fs.existsSync(path.join(out, CGROUP_CTL_FILE))).toBe(false);
    // Made again: the directories, then (the restore's hook, once the container's cgroup has no
    // task) the controllers, parents first; a name outside the tree is not written.
    const again = path.join(dir, 'again');
    fs.mkdirSync(again);
    recreateCgroupTree(again, got, process.getuid!());
    fs.writeFileSync(path.join(again, 'cgroup.procs'), '');
    const hook = writeControllersHook(path.join(dir, 'ctl-hook'), again, got, { '': ['memory', 'pids'], 'system.slice': ['memory'], 'not/in/tree': ['pids'] })!;
    const h = (action: string) => spawnSync(hook, [], { env: { ...process.env, CRTOOLS_SCRIPT_ACTION: action }, encoding: 'utf8' });
    expect(h('setup-namespaces').status).toBe(0);
    expect(fs.existsSync(path.join(again, 'system.slice', 'cgroup.subtree_control'))).toBe(false);
    const hr = h('post-setup-namespaces');
    expect(hr.status, hr.stderr).toBe(0);
    expect(fs.readFileSync(path.join(again, 'cgroup.subtree_control'), 'utf8')).toBe('+memory +pids');
    expect(fs.readFileSync(path.join(again, 'system.slice', 'cgroup.subtree_control'), 'utf8')).toBe('+memory');
    expect(fs.existsSync(path.join(again, 'not'))).toBe(false);
    // Nothing enabled at dump: no hook.
    expect(writeControllersHook(path.join(dir, 'ctl-hook2'), again, got, {})).toBeUndefined();
  });

  it('names vzkit cannot make again are refused before the dump, and left out after it', () => {
    expect(validCgroupPath('')).toBe(true);
    expect(validCgroupPath('system.slice/a\\x2db.service')).toBe(true);
    for (const bad of ['..', 'a/../b', '/abs', 'a//b', 'a/.', 'new\nline', 'x'.repeat(256)]) expect(validCgroupPath(bad), bad).toBe(false);
    const odd = path.join(cg, 'bad\nname');
    fs.mkdirSync(odd);
    try {
      expect(() => walkCgroupTree(cg)).toThrow(/name vzkit does not restore/);
      const out = path.join(dir, 'dump2');
      fs.mkdirSync(out);
      fs.writeFileSync(path.join(out, CGROUP_TREE_FILE), 'a\0bad\nname\0a/b\0../x\0');
      expect(readCgroupTree(out)).toEqual(['a', 'a/b']);
    } finally {
      fs.rmdirSync(odd);
    }
  });
});

describe('--features', () => {
  it("vzctl's spelling, comma-separated or repeated; only known features", () => {
    expect(parseFeatures('nesting:on')).toEqual({ nesting: 'on' });
    expect(parseFeatures(['NESTING:off'])).toEqual({ nesting: 'off' });
    expect(parseFeatures('nesting:off,nesting:on')).toEqual({ nesting: 'on' });
    expect(() => parseFeatures('nesting')).toThrow(/expected NAME:on\|off/);
    expect(() => parseFeatures('docker:on')).toThrow(/unknown feature "docker"/);
    expect(parseParams({ features: 'nesting:on' }, 'create')).toEqual({ features: { nesting: 'on' } });
    expect(parseParams({ features: 'nesting:on' }, 'profile')).toEqual({ features: { nesting: 'on' } });
  });
  it('off unless set on; shown as stored', () => {
    expect(featureOn(undefined, 'nesting')).toBe(false);
    expect(featureOn({ nesting: 'off' }, 'nesting')).toBe(false);
    expect(featureOn({ nesting: 'on' }, 'nesting')).toBe(true);
    expect(showFeatures(undefined)).toBe('-');
    expect(showFeatures({ nesting: 'on' })).toBe('nesting:on');
  });
});
