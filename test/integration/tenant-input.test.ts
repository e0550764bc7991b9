/**
 * Issue 13, tenant safety: a plain create gets limits a provider could sell (and says so), and
 * input that would hand a tenant something of the host's is refused in one line: the host's own
 * addresses and routes, an IPv4-mapped twin of an address in use, a host terminal as a devnode,
 * lo as a host interface or bridge, sizes with blanks, a job dumpdir with a newline.
 *
 * The host side of the address tests is a veth pair named after the node (the harness removes it
 * too) with 198.19.X.1/24 and 2001:db8:ff:X::1/64, X in 250..254: a range no other test uses.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { TestNode, isRoot } from './harness.js';

const v1 = fs.existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes');
const X = 250 + Math.floor(Math.random() * 5);
const LAN = `198.19.${X}`;
const LAN6 = `2001:db8:ff:${X}`;
const M = 2 ** 20;

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

/** One line on stderr, the exit code expected, and nothing left of the container. */
function refused(r: { code: number; stderr: string; stdout: string }, code: number | number[], why: RegExp): void {
  expect([code].flat(), `${r.stderr}${r.stdout}`).toContain(r.code);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(why);
}

describe.skipIf(!isRoot)('tenant safety: default limits and input that must not get through (root, real containers)', () => {
  let n: TestNode;
  let hostIf: string;
  const list = (ctid: string, fields: string) => JSON.parse(n.vzlist('-a', '-j', '-o', fields, ctid).stdout)[0];
  const gone = (ctid: string) => expect(n.vzctl('status', ctid).stdout).toMatch(/deleted/);

  beforeAll(() => {
    n = new TestNode('', { idmapCount: 8 });
    hostIf = `${n.node}d`;
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', `${n.node}e`);
    ip('addr', 'add', `${LAN}.1/24`, 'dev', hostIf);
    ip('addr', 'add', `${LAN6}::1/64`, 'dev', hostIf, 'nodad');
    ip('link', 'set', hostIf, 'up');
    ip('link', 'set', `${n.node}e`, 'up');
    // A more specific route of the host's own inside that LAN (what a VPN or a second router adds).
    ip('route', 'add', `${LAN}.192/26`, 'via', `${LAN}.2`, 'dev', hostIf);
  });
  afterAll(() => {
    spawnSync('ip', ['link', 'del', hostIf]); // the peer and the routes go with it
    n?.cleanup();
  });

  it('a plain create gets the default profile\'s limits, says so, and they are in vzlist and the cgroup', () => {
    const r = n.vzctl('create', '501', '--ostemplate', 'busybox');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Limits (profile default): ram 512M, swap 512M, cpulimit 100%, cpus all, cpuunits 1000, numproc 1024, diskspace unlimited');
    expect(r.stderr).not.toMatch(/warning/);
    expect(list('501', 'ram,swap,numproc.l,cpulimit,cpuunits,profile')).toEqual({ ram: 512 * M, swap: 512 * M, 'numproc.l': 1024, cpulimit: 100, cpuunits: 1000, profile: 'default' });
    n.ok('start', '501');
    try {
      if (v1) {
        const cg = (ctrl: string, file: string) => fs.readFileSync(`/sys/fs/cgroup/${ctrl}/${n.node}/501/${file}`, 'utf8').trim();
        expect(cg('memory', 'memory.limit_in_bytes')).toBe(String(512 * M));
        expect(cg('memory', 'memory.memsw.limit_in_bytes')).toBe(String(1024 * M));
        expect(cg('pids', 'pids.max')).toBe('1024');
        expect(cg('cpu', 'cpu.cfs_quota_us')).toBe('100000');
      }
      // /dev/shm: half the RAM limit; /dev: 1 MiB and 4096 inodes.
      const mounts = n.ok('exec', '501', 'cat', '/proc/mounts');
      expect(mounts).toMatch(/ \/dev\/shm tmpfs \S*size=262144k/);
      expect(mounts).toMatch(/ \/dev tmpfs \S*size=1024k,nr_inodes=4096/);
      const fill = n.vzctl('exec', '501', 'dd', 'if=/dev/zero', 'of=/dev/shm/fill', 'bs=1M', 'count=300');
      expect(fill.stderr).toMatch(/No space left on device/);
      n.ok('exec', '501', 'rm', '-f', '/dev/shm/fill');
    } finally {
      n.vzctl('stop', '501', '--fast');
      n.vzctl('destroy', '501');
    }
  });

  it('create --json carries the limits; --config unlimited is possible, with a warning', () => {
    const j = JSON.parse(n.ok('create', '502', '--ostemplate', 'busybox', '--json'));
    expect(j.limits).toEqual({ ram: 512 * M, swap: 512 * M, cpus: null, cpulimit: 100, cpuunits: 1000, numproc: 1024, diskspace: null });
    const r = n.vzctl('create', '503', '--ostemplate', 'busybox', '--config', 'unlimited');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Limits (profile unlimited): ram unlimited, swap unlimited, cpulimit unlimited');
    expect(r.stderr).toMatch(/^vzkit: warning: CT 503: no limit on memory, processes \(up to the host pid_max\), CPU time/m);
    expect(list('503', 'ram,numproc.l,cpulimit')).toEqual({ ram: null, 'numproc.l': null, cpulimit: null });
    // Explicit unlimited values on the command line warn as well.
    const r2 = n.vzctl('create', '504', '--ostemplate', 'busybox', '--numproc', 'unlimited');
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).toMatch(/warning: CT 504: no limit on processes/);
    for (const ct of ['502', '503', '504']) n.ok('destroy', ct);
  });

  it("--ipadd of the host's own addresses, its subnet's network/broadcast, its gateways and its routes is refused in one line", () => {
    refused(n.vzctl('create', '510', '--ostemplate', 'busybox', '--ipadd', `${LAN}.1`), 78, new RegExp(`ipadd ${LAN}\\.1: an address of the host \\(on ${hostIf}\\)`));
    gone('510');
    refused(n.vzctl('create', '510', '--ostemplate', 'busybox', '--ipadd', `${LAN6}::1`), 78, /an address of the host/);
    refused(n.vzctl('create', '510', '--ostemplate', 'busybox', '--ipadd', `${LAN}.255`), 21, /broadcast address/);
    refused(n.vzctl('create', '510', '--ostemplate', 'busybox', '--ipadd', `${LAN}.0`), 21, /network address of the host's subnet/);
    refused(n.vzctl('create', '510', '--ostemplate', 'busybox', '--ipadd', `${LAN}.2`), 78, /gateway of the host's route/);
    refused(n.vzctl('create', '510', '--ostemplate', 'busybox', '--ipadd', `${LAN}.200`), 21, new RegExp(`inside the host's route ${LAN}\\.192/26 via ${LAN}\\.2`));
    // Bridged addresses too (the host's own one), and a stopped container's set --save.
    refused(n.vzctl('create', '510', '--ostemplate', 'busybox', '--netif_add', 'eth0', '--ifname', 'eth0', '--ipadd', `${LAN}.1/24`), 78, /an address of the host/);
    gone('510');
    // Inside the connected LAN is proxy ARP's case: allowed.
    n.ok('create', '510', '--ostemplate', 'busybox', '--ipadd', `${LAN}.7`);
    refused(n.vzctl('set', '510', '--ipadd', `${LAN}.1`, '--save'), 78, /an address of the host/);
    expect(list('510', 'ip').ip).toBe(`${LAN}.7`);
    n.ok('destroy', '510');
  });

  it('an IPv4-mapped IPv6 twin of an address in use is refused', () => {
    n.ok('create', '510', '--ostemplate', 'busybox', '--ipadd', `${LAN}.7`);
    refused(n.vzctl('create', '511', '--ostemplate', 'busybox', '--ipadd', `::ffff:${LAN}.7`), 21, new RegExp(`an IPv4 address written as IPv6 \\(use ${LAN}\\.7\\)`));
    gone('511');
    refused(n.vzctl('set', '510', '--ipadd', `::ffff:${LAN}.8`, '--save'), 21, /IPv4 address written as IPv6/);
    n.ok('destroy', '510');
  });

  it('--devnodes of a host terminal (pts/0), stdin or memory is refused', () => {
    refused(n.vzctl('create', '520', '--ostemplate', 'busybox', '--devnodes', 'pts/0:rw'), 21, /\/dev\/pts\/0 is a terminal of the host/);
    gone('520');
    n.ok('create', '520', '--ostemplate', 'busybox');
    for (const d of ['pts/0:rw', 'ptmx:rw', 'tty1:rw', 'console:rw', 'stdin:r', 'mem:r', 'kmsg:r']) {
      refused(n.vzctl('set', '520', '--devnodes', d, '--save'), 21, /devnodes/);
    }
    n.ok('destroy', '520');
  });

  it('lo (and "all"/"default") as host interface or bridge is refused, also by set --save on a stopped container', () => {
    n.ok('create', '521', '--ostemplate', 'busybox');
    for (const spec of ['eth0,,lo', 'eth0,,,,lo', 'eth0,,all', 'eth0,,,,default']) {
      refused(n.vzctl('set', '521', '--netif_add', spec, '--save'), 21, /is reserved/);
    }
    n.ok('start', '521'); // nothing of the refused changes was stored
    n.ok('stop', '521', '--fast');
    n.ok('destroy', '521');
    refused(n.vzctl('create', '521', '--ostemplate', 'busybox', '--netif_add', 'eth0,,,,lo'), 21, /bridge name lo is reserved/);
    gone('521');
  });

  it("--ram '64 M' (a blank) is refused with exit 21, at create and set", () => {
    n.ok('create', '522', '--ostemplate', 'busybox');
    for (const [flag, v] of [['--ram', '64 M'], ['--ram', ' 64M'], ['--swap', '1 G'], ['--diskspace', '1G: 2G']]) {
      refused(n.vzctl('set', '522', flag!, v!, '--save'), 21, /contains a blank/);
    }
    expect(list('522', 'ram').ram).toBe(512 * M);
    n.ok('destroy', '522');
    refused(n.vzctl('create', '522', '--ostemplate', 'busybox', '--ram', '64 M'), 21, /invalid size "64 M": contains a blank/);
    gone('522');
  });

  it('job add with a --dumpdir containing a newline (or relative) is refused, nothing stored', () => {
    refused(n.vzctl('job', 'add', 'nightly', '--schedule', '0 2 * * *', '--all', '--dumpdir', '/srv/dump\nx'), 21, /invalid --dumpdir "\/srv\/dump\\nx": contains a control character/);
    refused(n.vzctl('job', 'add', 'nightly', '--schedule', '0 2 * * *', '--all', '--dumpdir', 'dump'), 21, /absolute path/);
    expect(n.ok('job', 'list')).not.toContain('nightly');
  });
});
