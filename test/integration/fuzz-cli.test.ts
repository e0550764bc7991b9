/**
 * Seeded fuzzing of the command lines (fast-check): vzctl and vzlist run with generated argv
 * on a node of their own. Whatever the input: an exit code from the documented table (or 0),
 * at most one error line, never a stack trace. The seed is fixed (FUZZ_SEED, FUZZ_RUNS).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import { TestNode, isRoot } from './harness.js';
import { ErrorCode } from '../../src/base/errors.js';
import { PARAMS } from '../../src/config/params.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261122);
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const CODES = new Set<number>([0, 1, ...Object.values(ErrorCode)]);

describe.skipIf(!isRoot)('fuzz: vzctl and vzlist command lines', () => {
  let n: TestNode;
  beforeAll(() => {
    n = new TestNode();
    n.ok('create', '101', '--ostemplate', 'busybox'); // something real to aim at
  });
  afterAll(() => n?.cleanup());

  const verbs = fc.constantFrom('create', 'start', 'stop', 'restart', 'status', 'destroy', 'mount', 'umount', 'exec', 'set', 'quota', 'compact', 'template', 'nosuchverb', '--help', '');
  const ctids = fc.constantFrom('101', '0', '-1', '4294967296', 'web', '../101', '101/..', '', ' ', '1e3', '0x65', '101\n102', '\u001b[2J');
  const flags = fc.constantFrom(...PARAMS.map((p) => `--${p.flag}`), '--save', '--json', '-q', '--fast', '--ostemplate', '--config', '--timeout', '--', '-', '--no-such-flag', '-x');
  const values = fc.oneof(
    fc.constantFrom('1', '0', '-5', '64M', '1G:2G', 'unlimited', 'yes', 'no', '../../etc/passwd', '/etc/shadow', '198.18.0.1', '198.18.0.1/33', '::1', 'br0', 'eth0,,,,', 'root:pw', 'sys_time:on', 'x'.repeat(300), '', '%n', '$(id)'),
    fc.string({ maxLength: 20 }),
  );
  const argv = fc.tuple(verbs, ctids, fc.array(fc.oneof(flags, values), { maxLength: 6 })).map(([v, c, rest]) => [v, c, ...rest].filter((a, i) => i !== 0 || a !== ''));

  const check = (code: number, stdout: string, stderr: string) => {
    expect(CODES.has(code)).toBe(true);
    expect(stderr + stdout).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m); // no stack frames
    expect(stderr).not.toMatch(/internal error/);
    expect(stderr.split('\n').filter((l) => /^(vzctl|vzlist):/.test(l)).length).toBeLessThanOrEqual(1);
  };

  it('vzctl: a documented exit code and at most one error line, never a stack', () => {
    fc.assert(
      fc.property(argv, (a) => {
        if (a[0] === 'exec' || a[0] === 'enter' || a[0] === 'console') return; // runs what it is given, by design
        const r = n.run('vzctl', a, { timeout: 30_000 });
        check(r.code, r.stdout, r.stderr);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  }, 600_000);

  it('vzlist: the same, with generated options and fields', () => {
    const opt = fc.constantFrom('-a', '-S', '-o', '-H', '-s', '-j', '-1', '-L', '--all', '--nosuch');
    const fields = fc.constantFrom('ctid', 'status,ram', 'nosuchfield', 'ip,diskspace.h', '', ',,,', 'ctid,ctid', '-ctid');
    fc.assert(
      fc.property(fc.array(fc.oneof(opt, fields, ctids), { maxLength: 5 }), (a) => {
        const r = n.run('vzlist', a, { timeout: 30_000 });
        check(r.code, r.stdout, r.stderr);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  }, 600_000);
});
