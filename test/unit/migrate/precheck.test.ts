import { describe, it, expect } from 'vitest';
import { blockersFromLog, formatBlocker } from '../../../src/criu/precheck.js';
import { proofProblem } from '../../../migrate/resolve.js';

describe('checkpoint pre-flight: CRIU log lines as "pid N (comm): reason"', () => {
  const me = process.pid;
  it('nested namespaces and an outside session leader name the task', () => {
    const log = [
      '(00.012345) Error (criu/namespaces.c:460): Can\'t dump nested uts namespace for ' + me,
      '(00.012400) Error (criu/cr-dump.c:1681): A session leader of ' + me + '(12) is outside of its pid namespace',
      "(00.012500) Error (criu/namespaces.c:1): Can't make utsns id",
      '(00.020000) Error (criu/cr-dump.c:2100): Dumping FAILED.',
    ].join('\n');
    const b = blockersFromLog(log, 1);
    expect(b.map((x) => x.ns)).toEqual(['uts', 'pid']); // the echo after a known cause is dropped
    expect(formatBlocker(b[0]!)).toMatch(new RegExp(`^pid ${me} \\(node[^)]*\\): runs in a nested uts namespace`));
    expect(formatBlocker(b[1]!)).toMatch(/its session leader is outside/);
  });

  it("an unknown error keeps CRIU's words, once, on the task it names or init", () => {
    const log = ['(00.1) Error (criu/files.c:1): Can\'t dump fd 5 of pid ' + me, '(00.2) Error (criu/files.c:1): Can\'t dump fd 5 of pid ' + me, '(00.3) Error (x.c:2): something odd'].join('\n');
    const b = blockersFromLog(log, 4242424);
    expect(b).toHaveLength(2);
    expect(b[0]).toMatchObject({ pid: me, reason: `criu: Can't dump fd 5 of pid ${me}` });
    expect(b[1]).toMatchObject({ pid: 4242424, comm: '?', reason: 'criu: something odd' });
  });
});

describe("the source's check of DEST's proof", () => {
  it('no proof, a dead init, tasks elsewhere or none: no success', () => {
    expect(proofProblem(undefined)).toMatch(/no proof/);
    expect(proofProblem({ ok: true, initPid: 0, tasks: 3 })).toMatch(/no running init/);
    expect(proofProblem({ ok: false, initPid: 9, tasks: 3, why: 'pid 9 (init) is in cgroup X' })).toMatch(/pid 9 \(init\) is in cgroup X/);
    expect(proofProblem({ ok: true, initPid: 9, tasks: 0 })).toMatch(/no live task/);
    expect(proofProblem({ ok: true, initPid: 9, tasks: 2 })).toBeUndefined();
  });
});
