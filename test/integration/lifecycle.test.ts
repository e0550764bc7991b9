/**
 * The container lifecycle for real, as root: create, start, exec, status, list, set, stop,
 * halt from inside, restart, destroy, and the errors a user meets on the way.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import { TestNode, isRoot, listMountsUnder, pidsInNode, waitFor } from './harness.js';

describe.skipIf(!isRoot)('container lifecycle (root, real containers)', () => {
  let n: TestNode;
  beforeAll(() => {
    n = new TestNode();
  });
  afterAll(() => n?.cleanup());

  it('creates a busybox container owned by its own uid range', () => {
    const out = n.ok('create', '101', '--ostemplate', 'busybox', '--hostname', 'web1', '--name', 'web');
    expect(out).toContain('Container private area was created');
    expect(n.ok('status', '101').trim()).toBe('CTID 101 exist unmounted down');
    const st = fs.statSync(`${n.root}/private/101/bin/busybox`);
    expect(st.uid).toBeGreaterThanOrEqual(1_000_000);
    expect(fs.statSync(`${n.root}/private/101`).uid).toBe(st.uid);
  });

  it('refuses bad input with one line and vzctl exit codes, changing nothing', () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['create', '101', '--ostemplate', 'busybox'], 44, /already exists/],
      [['create', '102', '--ostemplate', 'nosuch'], 91, /unknown OS template "nosuch"/],
      [['create', '102', '--ostemplate', 'busybox', '--config', 'nosuch'], 91, /nosuch/],
      [['create', '102', '--ostemplate', 'busybox', '--hostname', 'bad_host!'], 70, /hostname/],
      [['create', '0', '--ostemplate', 'busybox'], 21, /out of range/],
      [['create', '99999999999', '--ostemplate', 'busybox'], 21, /out of range/],
      [['start', '555'], 14, /does not exist/],
      [['exec', '101', 'true'], 31, /not running/],
      [['stop', '101'], 31, /not running/],
      [['status', 'nosuchname'], 14, /does not exist/],
      [['frobnicate', '101'], 20, /Unknown|unknown/],
    ];
    for (const [args, code, msg] of cases) {
      const r = n.vzctl(...args);
      expect({ args, code: r.code }).toEqual({ args, code });
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(n.ok('status', '102').trim()).toBe('CTID 102 deleted unmounted down');
    expect(fs.existsSync(`${n.root}/private/102`)).toBe(false);
  });

  it('starts the template init as PID 1 in its own namespaces', () => {
    n.ok('start', '101');
    expect(n.ok('status', '101').trim()).toBe('CTID 101 exist mounted running');
    const ps = n.ok('exec', '101', 'ps');
    const init = ps.split('\n').find((l) => /^\s*1\s/.test(l));
    expect(init).toMatch(/init/);
    // Only the container's processes are visible.
    expect(ps).not.toMatch(/vitest|node/);
    expect(n.ok('exec', '101', 'hostname').trim()).toBe('web1');
    expect(n.vzctl('start', '101').code).toBe(32);
    expect(n.vzctl('destroy', '101').code).toBe(32);
  });

  it('passes stdin, stdout, stderr and the exit code through exec', () => {
    const r = n.run('vzctl', ['exec', '101', 'sh', '-c', 'cat; echo err >&2; exit 7'], { input: 'hello\n' });
    expect(r).toMatchObject({ code: 7, stdout: 'hello\n', stderr: 'err\n' });
    expect(n.vzctl('exec', '101', 'ls', '-d', '/').stdout.trim()).toBe('/');
    expect(n.vzctl('exec', '101', '/nonexistent').code).toBe(127);
    expect(n.vzctl('exec', 'web', 'true').code).toBe(0); // names work wherever CTIDs do
  });

  it('attaches to the console (Esc . detaches) and enters a shell on a pty', () => {
    const con = n.run('vzctl', ['console', '101'], { input: 'echo console-$((6*7))\n', timeout: 15_000 });
    expect(con.code).toBe(0);
    expect(con.stdout).toContain('console-42');
    const ent = n.run('vzctl', ['enter', '101'], { input: 'echo entered-$((1+2)); tty; exit 3\n', timeout: 15_000 });
    expect(ent.code).toBe(3);
    expect(ent.stdout).toContain('entered-3');
    expect(ent.stdout).toMatch(/\/dev\/pts\/\d+/);
    const log = fs.readFileSync(`${n.root}/log/101.console.log`, 'utf8');
    expect(log).toContain('console-42');
  });

  it('lists containers with vzlist, as a table and as JSON', () => {
    const table = n.vzlist('-a');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/CTID\s+NPROC\s+STATUS\s+HOSTNAME/);
    expect(table.stdout).toMatch(/101\s+\d+\s+running\s+web1/);
    const j = JSON.parse(n.vzlist('-a', '-j', '-o', 'ctid,name,hostname,status,numproc,ostemplate').stdout);
    expect(j).toEqual([{ ctid: 101, name: 'web', hostname: 'web1', status: 'running', numproc: expect.any(Number), ostemplate: 'busybox' }]);
    expect(j[0].numproc).toBeGreaterThanOrEqual(2);
    expect(n.vzlist('-H', '-o', 'ctid').stdout.trim()).toBe('101');
    expect(n.vzlist('-o', 'nosuchfield').code).toBe(20);
  });

  it('changes the hostname live with set, and keeps it with --save', () => {
    n.ok('set', '101', '--hostname', 'web2', '--save');
    expect(n.ok('exec', '101', 'hostname').trim()).toBe('web2');
    expect(n.ok('exec', '101', 'cat', '/etc/hostname').trim()).toBe('web2');
    const bad = n.vzctl('set', '101', '--hostname=-bad-');
    expect(bad.code).toBe(70);
    expect(n.ok('exec', '101', 'hostname').trim()).toBe('web2');
  });

  it('stops cleanly with the halt signal and leaves nothing behind', () => {
    n.ok('stop', '101');
    expect(n.ok('status', '101').trim()).toBe('CTID 101 exist unmounted down');
    expect(pidsInNode(n.node)).toEqual([]);
    expect(listMountsUnder(n.root)).toEqual([]);
    expect(fs.existsSync(`/sys/fs/cgroup/memory/${n.node}/101`)).toBe(false);
  });

  it('cleans up after a container that halts itself from inside', () => {
    n.ok('start', '101');
    n.vzctl('exec', '101', 'halt');
    expect(waitFor(() => n.ok('status', '101').trim() === 'CTID 101 exist unmounted down', 10_000)).toBe(true);
    expect(pidsInNode(n.node)).toEqual([]);
    expect(listMountsUnder(n.root)).toEqual([]);
    expect(fs.existsSync(`/sys/fs/cgroup/pids/${n.node}/101`)).toBe(false);
  });

  it('restarts, stops --fast, mounts, unmounts and destroys', () => {
    n.ok('start', '101');
    n.ok('restart', '101');
    expect(n.ok('status', '101').trim()).toBe('CTID 101 exist mounted running');
    n.ok('stop', '101', '--fast');
    n.ok('mount', '101');
    expect(n.ok('status', '101').trim()).toBe('CTID 101 exist mounted down');
    expect(fs.existsSync(`${n.root}/root/101/bin/busybox`)).toBe(true);
    expect(n.vzctl('mount', '101').code).toBe(41);
    n.ok('umount', '101');
    expect(n.vzctl('umount', '101').code).toBe(40);
    n.ok('destroy', '101');
    expect(n.ok('status', '101').trim()).toBe('CTID 101 deleted unmounted down');
    expect(fs.existsSync(`${n.root}/private/101`)).toBe(false);
    expect(n.vzctl('destroy', '101').code).toBe(14);
  });

  it('prints errors as JSON with --json', () => {
    const r = n.vzctl('--json', 'start', '777');
    expect(r.code).toBe(14);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: 'NOT_FOUND', exit: 14, ctid: 777 });
  });
});
