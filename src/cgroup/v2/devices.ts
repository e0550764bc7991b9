/**
 * v2 device control: cgroup v2 has no devices.allow/deny; `ctspawn devices DIR RULE...` compiles
 * the v1-style rule list into a BPF_PROG_TYPE_CGROUP_DEVICE program and atomically replaces the
 * previous vzkit program on the cgroup (native/devices.c; semantics in native/protocol.h).
 * Unlike v1, where rules add to the cgroup's current list, each apply replaces the whole policy
 * and the list is evaluated from "deny all": callers must pass the full list every time.
 */
import type { DeviceRule, ResourceLimits } from '../types.js';
import { ruleLine } from '../v1/devices.js';
import { VzError } from '../../base/errors.js';
import { helperPath } from '../../base/package-root.js';
import { childProcess } from '../../sys/childproc.js';

export interface HelperResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Set when the helper could not be run at all (spawn failed). */
  error?: Error;
}

/** Runs ctspawn with args and waits; injectable so unit tests (fake trees) can check the argv. */
export type HelperRunner = (args: string[]) => HelperResult;

export const runHelper: HelperRunner = (args) => {
  let file: string;
  try {
    file = helperPath();
  } catch (e) {
    return { status: null, stdout: '', stderr: '', error: e as Error };
  }
  const r = childProcess().spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
};

const MAX_DEV = 2 ** 31 - 1; // the helper compares with 32-bit signed immediates

function checkRule(r: DeviceRule, ctid?: number): void {
  const num = (n: number | '*'): boolean => n === '*' || (Number.isSafeInteger(n) && n >= 0 && n <= MAX_DEV);
  const ok = (r.type === 'a' || r.type === 'b' || r.type === 'c') && (r.type === 'a' || (num(r.major) && num(r.minor) && /^[rwm]+$/.test(r.access)));
  if (!ok) throw new VzError('INVALID', `bad device rule ${JSON.stringify(r)}: type a|b|c, major:minor numbers or '*', access of "rwm"`, { ctid });
}

/** The helper's argument for one rule: "allow c 1:3 rwm", "deny a". */
export function deviceRuleArg(r: DeviceRule): string {
  return `${r.allow ? 'allow' : 'deny'} ${ruleLine(r)}`;
}

export function applyDevices(dir: string, limits: ResourceLimits, ctid?: number, run: HelperRunner = runHelper): void {
  const rules = limits.devices;
  if (!rules?.length) return;
  for (const r of rules) checkRule(r, ctid);
  const res = run(['devices', dir, ...rules.map(deviceRuleArg)]);
  if (res.error) {
    throw new VzError('SYSTEM', `device rules: cannot run the helper (${res.error.message})`, {
      ctid, cause: res.error, hint: 'build it with "make -C native", or set VZKIT_HELPER',
    });
  }
  if (res.status !== 0) {
    const line = res.stderr.trim().split('\n').pop() || `exit status ${res.status}`;
    const msg = line.replace(/^ctspawn: (devices: )?/, '');
    // 'rule "TEXT": ...' is the helper refusing a rule (e.g. a hole in a wildcard); the rest is the kernel.
    throw new VzError(/^rule "/.test(msg) ? 'INVALID' : 'SYSTEM', `device rules for ${dir}: ${msg}`, { ctid });
  }
}

/** The device programs attached to dir itself, from `ctspawn devices --query` (tests, diagnosis). */
export function devicePrograms(dir: string, run: HelperRunner = runHelper): { id: number; name: string }[] {
  const res = run(['devices', '--query', dir]);
  if (res.error || res.status !== 0) {
    throw new VzError('SYSTEM', `cannot list the device programs of ${dir}: ${res.error?.message ?? res.stderr.trim()}`);
  }
  return res.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, name] = l.split(' ');
      return { id: Number(id), name: name ?? '' };
    });
}
