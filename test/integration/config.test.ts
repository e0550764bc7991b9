/** Config mistakes a user makes: each one line with file:line and a stable exit code. */
import { describe, it, expect, afterEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO } from './harness.js';

const dirs: string[] = [];
function vzctl(config: string, ...args: string[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-cfg-'));
  dirs.push(dir);
  const file = path.join(dir, 'vzkit.yaml');
  fs.writeFileSync(file, config.replace(/@DIR@/g, dir));
  const r = spawnSync(path.join(REPO, 'dist/vzctl'), args, { env: { ...process.env, VZKIT_CONFIG: file }, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr, file, dir };
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('global config errors', () => {
  it('malformed YAML names the file and line', () => {
    const r = vzctl('root: @DIR@/root\nnode: [unclosed\n', 'status', '101');
    expect(r.code).toBe(85);
    expect(r.stderr).toMatch(new RegExp(`${r.file}:\\d+`));
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('an unknown key names the file, line and key', () => {
    const r = vzctl('root: @DIR@/root\nnode: x1\nrooot: /tmp\n', 'status', '101');
    expect(r.code).toBe(85);
    expect(r.stderr).toContain(`${r.file}:3`);
    expect(r.stderr).toContain('rooot');
  });

  it('a wrong type is an error', () => {
    const r = vzctl('root: @DIR@/root\nidmap:\n  base: lots\n', 'status', '101');
    expect(r.code).toBe(85);
    expect(r.stderr).toContain(`${r.file}:3`);
  });

  it('a missing file named by VZKIT_CONFIG is an error', () => {
    const r = spawnSync(path.join(REPO, 'dist/vzctl'), ['status', '101'], {
      env: { ...process.env, VZKIT_CONFIG: '/nonexistent/vzkit.yaml' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(10);
    expect(r.stderr).toContain('/nonexistent/vzkit.yaml');
  });

  it('a malformed OS template in a custom templates_dir names its file and line', () => {
    const r0 = vzctl('root: @DIR@/root\ntemplates_dir: @DIR@/t\n', 'status', '1');
    fs.mkdirSync(path.join(r0.dir, 't/os'), { recursive: true });
    fs.writeFileSync(path.join(r0.dir, 't/os/broken.yaml'), 'description: x\nbuild:\n  type: busybox\ninit: /sbin/init\nfoo: 1\n');
    const cfg = `root: ${r0.dir}/root\ntemplates_dir: ${r0.dir}/t\n`;
    const file = path.join(r0.dir, 'vzkit.yaml');
    fs.writeFileSync(file, cfg);
    const r = spawnSync(path.join(REPO, 'dist/vzctl'), ['create', '101', '--ostemplate', 'broken'], {
      env: { ...process.env, VZKIT_CONFIG: file },
      encoding: 'utf8',
    });
    expect(r.status).toBe(85);
    expect(r.stderr).toMatch(/broken\.yaml:\d+/);
    expect(fs.existsSync(path.join(r0.dir, 'root/private/101'))).toBe(false);
  });
});
