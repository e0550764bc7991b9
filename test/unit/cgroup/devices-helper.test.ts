/**
 * The rule semantics of `ctspawn devices` (native/devices.c), through `--print`, which shows the
 * policy a rule list reduces to without loading anything (no root needed). Skipped when the
 * helper is not built (make -C native). The BPF program itself is tested for real in the v2 VM
 * (test/integration/cgroup-v2) and on a host cgroup2 mount (devices-host.test.ts there).
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { DEFAULT_DEVICE_RULES } from '../../../src/cgroup/v1/devices.js';
import { deviceRuleArg } from '../../../src/cgroup/v2/devices.js';

const helper = new URL('../../../native/build/ctspawn', import.meta.url).pathname;

function print(...rules: string[]): { status: number | null; out: string[]; err: string } {
  const r = spawnSync(helper, ['devices', '--print', ...rules], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout.trim().split('\n'), err: r.stderr.trim() };
}
/** The policy lines without the instruction count. */
const policy = (...rules: string[]): string[] => {
  const r = print(...rules);
  expect(r.status, r.err).toBe(0);
  return r.out.filter((l) => !l.startsWith('instructions '));
};

describe.skipIf(!existsSync(helper))('ctspawn devices: v1 list semantics', () => {
  it('DEFAULT_DEVICE_RULES: default deny plus the allow-list', () => {
    const r = print(...DEFAULT_DEVICE_RULES.map(deviceRuleArg));
    expect(r.out).toEqual([
      'default deny',
      'allow c *:* m', 'allow b *:* m',
      'allow c 1:3 rwm', 'allow c 1:5 rwm', 'allow c 1:7 rwm', 'allow c 1:8 rwm', 'allow c 1:9 rwm',
      'allow c 5:0 rwm', 'allow c 5:1 rwm', 'allow c 5:2 rwm', 'allow c 136:* rwm', 'allow c 10:200 rwm', 'allow c 10:229 rwm',
      // 2 wildcard-type blocks of 10 + 10 blocks with major+minor of 9, the pts block 7, end 2 (each block loads what it compares)
      'instructions 119',
    ]);
  });

  it('starts from "deny all" (fails closed when the leading "deny a" is forgotten)', () => {
    expect(policy()).toEqual(['default deny']);
    expect(policy('allow c 1:3 rw')).toEqual(['default deny', 'allow c 1:3 rw']);
  });

  it('"a" resets: allow a = default allow, deny rules become exceptions', () => {
    expect(policy('allow c 1:3 rw', 'allow a')).toEqual(['default allow']);
    expect(policy('allow a', 'deny c 1:5 w', 'deny b 8:* rwm')).toEqual(['default allow', 'deny c 1:5 w', 'deny b 8:* rwm']);
    expect(policy('allow a *:* rwm', 'deny a')).toEqual(['default deny']);
  });

  it('merges access of the same device and removes it again like v1', () => {
    expect(policy('allow c 1:3 r', 'allow c 1:3 w', 'allow c 1:3 m')).toEqual(['default deny', 'allow c 1:3 rwm']);
    expect(policy('allow c 1:3 rwm', 'deny c 1:3 w')).toEqual(['default deny', 'allow c 1:3 rm']);
    expect(policy('allow c 1:3 rw', 'allow c 1:5 rw', 'deny c 1:3 rwm')).toEqual(['default deny', 'allow c 1:5 rw']);
    expect(policy('deny c 9:9 rwm')).toEqual(['default deny']); // nothing to remove: v1 ignores it too
    expect(policy('allow a', 'deny c 1:5 rw', 'allow c 1:5 w')).toEqual(['default allow', 'deny c 1:5 r']);
  });

  it('refuses to punch a hole in a wildcard rule (v1 would silently ignore the rule)', () => {
    const r = print('deny a', 'allow c *:* m', 'deny c 1:5 m');
    expect(r.status).toBe(125);
    expect(r.err).toBe('ctspawn: devices: rule "deny c 1:5 m": cannot punch a hole in the wider rule "allow c *:* m" (cgroup v1 would silently ignore it); narrow that rule instead');
    expect(print('allow a', 'deny c 1:* rw', 'allow c 1:3 r').status).toBe(125);
    // no overlap in access, or another type: fine
    expect(policy('deny a', 'allow c *:* m', 'allow c 1:5 rw', 'deny c 1:5 rw')).toEqual(['default deny', 'allow c *:* m']);
    expect(policy('deny a', 'allow b *:* m', 'allow c 1:5 m', 'deny c 1:5 m')).toEqual(['default deny', 'allow b *:* m']);
  });

  it('rejects malformed rules with one "ctspawn: devices: rule ..." line, exit 125', () => {
    for (const [rule, why] of [
      ['permit c 1:3 r', 'must start with "allow " or "deny "'],
      ['allow x 1:3 r', 'type must be a, b or c'],
      ['allow c 1:3', 'access must be a non-empty subset of "rwm"'],
      ['allow c 1:3 rwx', 'access must be a non-empty subset of "rwm"'],
      ['allow c 1-3 r', 'MAJOR:MINOR must be numbers'],
      ['allow c 2147483648:0 r', 'MAJOR:MINOR must be numbers'],
      ['allow c 1:3 r extra', 'expected ACTION TYPE MAJOR:MINOR ACCESS'],
      ['deny a 1:3 r', '"a" takes no device'],
    ]) {
      const r = print(rule!);
      expect(r.status, rule).toBe(125);
      expect(r.err).toMatch(new RegExp(`^ctspawn: devices: rule "${rule}": .*${why!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      expect(r.err.split('\n')).toHaveLength(1);
    }
  });

  it('needs a cgroup v2 dir to attach to', () => {
    const r = spawnSync(helper, ['devices', '/tmp', 'deny a'], { encoding: 'utf8' });
    expect(r.status).toBe(125);
    expect(r.stderr.trim()).toBe('ctspawn: devices: /tmp is not a cgroup v2 directory');
    expect(spawnSync(helper, ['devices'], { encoding: 'utf8' }).status).toBe(125); // usage
  });
});
