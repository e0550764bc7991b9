/**
 * Container networking for real: veth pairs, routes, proxy neighbour entries and bridges on this
 * host, traffic between the host, containers and a "LAN" namespace the test makes. Addresses only
 * from 198.18.0.0/15 and 2001:db8::/32 (a random /24 and /48 per run); no global sysctl is
 * changed, only the per-interface ones of the test's own interfaces.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { TestNode, isRoot, waitFor, REPO } from './harness.js';

/** IPv6 per-interface forwarding (Linux 6.17+); without it vzkit warns and IPv6 between routed containers needs the global switch. */
const FORCE_FWD = fs.existsSync('/proc/sys/net/ipv6/conf/lo/force_forwarding');
const R = 10 + Math.floor(Math.random() * 240); // third octet of this run's addresses
const H = (0x100 + Math.floor(Math.random() * 0xe00)).toString(16); // this run's IPv6 /48
const v4 = (net3: number, host: number) => `198.${net3}.${R}.${host}`;
const v6 = (sub: number, host: number) => `2001:db8:${H}:${sub}::${host}`;

// Routed containers: 198.18.R.1-127 and 2001:db8:H:1::/64; bridged: 198.19.R.0/24 and
// 2001:db8:H:2::/64; the LAN namespace: 198.18.R.128/25 and 2001:db8:H:3::/64, with a routed
// container address inside that subnet (what proxy ARP/NDP is for).
const A = { v4: v4(18, 1), v6: v6(1, 1) }; // CT 201, routed
const B = { v4: v4(18, 2), v6: v6(1, 2) }; // CT 202, routed
const C = { v4: v4(19, 3), v6: v6(2, 3) }; // CT 203, bridged
const D = { v4: v4(19, 4), v6: v6(2, 4) }; // CT 204, bridged
const LAN = { host: v4(18, 129), client: v4(18, 130), ct: v4(18, 140), host6: v6(3, 1), client6: v6(3, 2), ct6: v6(3, 10) }; // 198.18.R.128/25, 2001:db8:H:3::/64

const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
const ping = (addr: string, ns?: number) =>
  (ns ? sh('nsenter', [`--net=/proc/${ns}/ns/net`, 'busybox', 'ping', '-c1', '-W1', addr]) : sh('busybox', ['ping', '-c1', '-W1', addr])).status === 0;

function hostLinks(prefix: string): string[] {
  return fs.readdirSync('/sys/class/net').filter((l) => l.startsWith(prefix));
}
function routesTo(addrs: string[]): string[] {
  const out = sh('ip', ['route', 'show', 'table', 'all']).stdout + sh('ip', ['-6', 'route', 'show', 'table', 'all']).stdout;
  return out.split('\n').filter((l) => addrs.some((a) => l.startsWith(a + ' ') || l.startsWith(a + '/')));
}
function proxies(): string {
  return sh('ip', ['neigh', 'show', 'proxy']).stdout + sh('ip', ['-6', 'neigh', 'show', 'proxy']).stdout;
}

/** Resolves with the body of GET / or rejects; plain TCP so IPv6 literals need no URL quirks. */
function httpGet(host: string, port: number, ms = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, timeout: ms });
    let data = '';
    s.on('connect', () => s.write(`GET / HTTP/1.0\r\nHost: x\r\n\r\n`));
    s.on('data', (d) => (data += d.toString()));
    s.on('end', () => resolve(data));
    s.on('timeout', () => (s.destroy(), reject(new Error('timeout'))));
    s.on('error', reject);
  });
}


/** A byte sink in a network namespace (or the host's): resolves once listening; each finished
 * connection is reported as {n, ms} (bytes, first byte to end) on `done`. */
const SINK = `const net = require('net');
net.createServer((s) => { let t0; let n = 0;
  s.on('data', (d) => { t0 ??= Date.now(); n += d.length; });
  s.on('end', () => { console.log(JSON.stringify({ n, ms: Date.now() - (t0 ?? Date.now()) })); s.end(); });
}).listen(+process.argv[2], '0.0.0.0', () => console.log('ready'));`;
function startSink(port: number, netnsPid: number): Promise<{ done: () => Promise<{ n: number; ms: number }>; kill: () => void }> {
  const child = spawn('nsenter', [`--net=/proc/${netnsPid}/ns/net`, process.execPath, '-e', SINK, 'x', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  let buf = '';
  child.stdout!.on('data', (d) => {
    buf += d;
    for (let i; (i = buf.indexOf('\n')) >= 0; ) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w(l);
      else lines.push(l);
    }
  });
  const next = () => new Promise<string>((r) => (lines.length ? r(lines.shift()!) : waiters.push(r)));
  return next().then(() => ({ done: async () => JSON.parse(await next()), kill: () => child.kill('SIGKILL') }));
}

/** Sends `bytes` to host:port and resolves with the ms until the peer closed. */
function sendTimed(host: string, port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const s = net.connect(port, host, () => s.end(Buffer.alloc(bytes)));
    s.resume();
    s.on('close', () => resolve(Date.now() - t0));
    s.on('error', reject);
  });
}

describe.skipIf(!isRoot)('container networking (root, real interfaces)', () => {
  let n: TestNode;
  let bridge: string;
  let lanNs: ChildProcess | undefined;
  let lanIf: string;
  const hostFile = () => path.join(n.dir, 'host-secret');

  // The test's ranges are unreachable from the host except through the routes vzkit adds (more
  // specific): a removed address then fails at once, and no test packet leaves through the
  // host's default route.
  const fences = () => [`198.18.${R}.0/24`, `198.19.${R}.0/24`, `2001:db8:${H}::/48`];
  beforeAll(() => {
    n = new TestNode('', { idmapCount: 12 });
    bridge = `${n.node}br`;
    lanIf = `${n.node}lan`;
    for (const f of fences()) sh('ip', ['route', 'add', 'unreachable', f]);
  });
  afterAll(() => {
    for (const f of fences()) sh('ip', ['route', 'del', 'unreachable', f]);
    lanNs?.kill('SIGKILL');
    n?.cleanup();
    for (const l of [bridge, lanIf]) if (fs.existsSync(`/sys/class/net/${l}`)) sh('ip', ['link', 'del', l]);
    // The veths die with their namespaces (asynchronously): make sure of it.
    waitFor(() => hostLinks(`${n.node}`).length === 0, 5000);
  });

  it('routed: the host pings the container and reaches a TCP server in it (IPv4 and IPv6)', async () => {
    n.ok('create', '201', '--ostemplate', 'busybox', '--hostname', 'web1.example.test', '--ipadd', A.v4, '--ipadd', A.v6,
      '--nameserver', '198.18.0.53', '--nameserver', '2001:db8::53', '--searchdomain', 'example.test');
    n.ok('start', '201');
    expect(hostLinks(`${n.node}-201`)).toEqual([`${n.node}-201`]);
    expect(ping(A.v4)).toBe(true);
    expect(ping(A.v6)).toBe(true);
    n.ok('exec', '201', 'sh -c "mkdir -p /www && echo hello-201 > /www/index.html && httpd -p 8080 -h /www </dev/null >/dev/null 2>&1"');
    expect(await httpGet(A.v4, 8080)).toContain('hello-201');
    expect(await httpGet(A.v6, 8080)).toContain('hello-201');
    // Inside: the addresses on venet0, the default routes through the host end, the files.
    const addr = n.ok('exec', '201', 'ip', 'addr', 'show', 'venet0');
    expect(addr).toContain(`inet ${A.v4}/32`);
    expect(addr).toContain(`inet6 ${A.v6}/128`);
    expect(n.ok('exec', '201', 'ip', 'route')).toMatch(/default via 169\.254\.0\.1 dev venet0/);
    expect(n.ok('exec', '201', 'ip', '-6', 'route')).toMatch(/default via fe80::1 dev venet0/);
    expect(n.ok('exec', '201', 'cat', '/etc/hosts')).toMatch(new RegExp(`^${A.v4.replace(/\./g, '\\.')}\\s+web1\\.example\\.test web1`, 'm'));
    const resolv = n.ok('exec', '201', 'cat', '/etc/resolv.conf');
    expect(resolv).toContain('nameserver 198.18.0.53\nnameserver 2001:db8::53');
    expect(resolv).toContain('search example.test');
    expect(n.ok('exec', '201', 'hostname').trim()).toBe('web1.example.test');
    expect(n.vzlist('-H', '-o', 'ctid,ip', '201').stdout.trim()).toBe(`201 ${A.v4} ${A.v6}`);
  });

  it('routed: two containers reach each other through the host (per-interface forwarding only)', () => {
    const fwd = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    n.ok('create', '202', '--ostemplate', 'busybox', '--ipadd', `${B.v4},${B.v6}`);
    const started = n.vzctl('start', '202');
    expect(started.code).toBe(0);
    expect(n.vzctl('exec', '202', 'ping', '-c1', '-W2', A.v4).code).toBe(0);
    // An older kernel (the v2 VM's 6.1) has no force_forwarding: the start says so in one line.
    if (FORCE_FWD || fs.readFileSync('/proc/sys/net/ipv6/conf/all/forwarding', 'utf8').trim() === '1') expect(n.vzctl('exec', '202', 'ping', '-c1', '-W2', A.v6).code).toBe(0);
    else expect(started.stderr).toMatch(/^vzkit: warning: CT 202: cannot set net\.ipv6\.conf\.\S+\.force_forwarding/m);
    expect(n.ok('exec', '202', 'wget', '-q', '-O', '-', `http://${A.v4}:8080/`)).toContain('hello-201');
    expect(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(fwd); // the global switch is untouched
    expect(fs.readFileSync(`/proc/sys/net/ipv4/conf/${n.node}-202/forwarding`, 'utf8').trim()).toBe('1');
  });

  it('--ipdel on a running container stops answers at once, --ipadd brings them back', async () => {
    n.ok('set', '201', '--ipdel', A.v4);
    expect(ping(A.v4)).toBe(false);
    await expect(httpGet(A.v4, 8080, 1500)).rejects.toThrow();
    expect(ping(A.v6)).toBe(true); // the other address is untouched
    expect(routesTo([A.v4])).toEqual([]);
    expect(n.vzlist('-H', '-o', 'ip', '201').stdout.trim()).toBe(A.v6);
    n.ok('set', '201', '--ipadd', A.v4);
    expect(ping(A.v4)).toBe(true);
    expect(await httpGet(A.v4, 8080)).toContain('hello-201');
    // Live only (no --save): the stored config is unchanged; ipdel all --save removes the pair.
    n.ok('set', '201', '--ipdel', 'all');
    expect(hostLinks(`${n.node}-201`)).toEqual([]);
    expect(ping(A.v6)).toBe(false);
    n.ok('set', '201', '--ipadd', A.v4, '--ipadd', A.v6);
    expect(ping(A.v4) && ping(A.v6)).toBe(true);
    expect(n.vzlist('-H', '-o', 'ip', '201').stdout.trim()).toBe(`${A.v4} ${A.v6}`);
  });

  it('--rate limits each direction on the host end (tc), live; unlimited removes it', async () => {
    const initPid = (id: string) => Number(fs.readFileSync(`${n.root}/run/${id}.pid`, 'utf8').trim().split(/\s+/)[1]);
    const MiB2 = 2 * 1024 * 1024;
    n.ok('set', '201', '--rate', '8M'); // 1 MB/s
    const qd = sh('tc', ['qdisc', 'show', 'dev', `${n.node}-201`]).stdout;
    expect(qd).toMatch(/qdisc tbf .* rate 8Mbit/);
    expect(qd).toMatch(/qdisc ingress ffff:/);
    expect(sh('tc', ['qdisc', 'show', 'dev', `${n.node}-201.i`]).stdout).toMatch(/qdisc tbf .* rate 8Mbit/); // its ifb
    const sink = await startSink(5301, initPid('201'));
    const sink2 = await startSink(5302, initPid('202'));
    try {
      // Host -> container: the token bucket on the host end.
      const slow = await sendTimed(A.v4, 5301, MiB2);
      expect((await sink.done()).n).toBe(MiB2);
      expect(slow).toBeGreaterThan(1500);
      // Container -> container: the policer on 201's host end (TCP backs off to the rate).
      n.ok('exec', '201', 'sh', '-c', `head -c ${MiB2} /dev/zero | nc ${B.v4} 5302`);
      const out = await sink2.done();
      expect(out.n).toBe(MiB2);
      expect(out.ms).toBeGreaterThan(1500);
      n.ok('set', '201', '--rate', 'unlimited');
      expect(sh('tc', ['qdisc', 'show', 'dev', `${n.node}-201`]).stdout).not.toMatch(/tbf|ingress/);
      expect(hostLinks(`${n.node}-201.i`)).toEqual([]);
      const fast = await sendTimed(A.v4, 5301, MiB2);
      expect((await sink.done()).n).toBe(MiB2);
      expect(fast).toBeLessThan(slow / 3);
    } finally {
      sink.kill();
      sink2.kill();
    }
    // Stored, it is there after a restart; the ifb goes with the container (checked at the end).
    n.ok('set', '202', '--rate', '100M', '--save');
    n.ok('restart', '202');
    expect(hostLinks(`${n.node}-202`).sort()).toEqual([`${n.node}-202`, `${n.node}-202.i`]);
    expect(sh('tc', ['qdisc', 'show', 'dev', `${n.node}-202`]).stdout).toMatch(/rate 100Mbit/);
    expect(n.vzctl('exec', '202', 'ping', '-c1', '-W2', A.v4).code).toBe(0);
  });

  it('bridged: --netif_add on a bridge vzkit creates; two containers reach each other (IPv4 and IPv6)', () => {
    expect(fs.existsSync(`/sys/class/net/${bridge}`)).toBe(false);
    for (const [id, a] of [['203', C], ['204', D]] as const) {
      n.ok('create', id, '--ostemplate', 'busybox', '--netif_add', `eth1,,,,${bridge}`, '--ifname', 'eth1', '--ipadd', `${a.v4}/24`, '--ipadd', `${a.v6}/64`, '--gw', v4(19, 254));
      n.ok('start', id);
    }
    expect(fs.existsSync(`/sys/class/net/${bridge}/bridge`)).toBe(true);
    expect(fs.readdirSync(`/sys/class/net/${bridge}/brif`).sort()).toEqual([`${n.node}-203.0`, `${n.node}-204.0`]);
    expect(n.vzctl('exec', '203', 'ping', '-c1', '-W2', D.v4).code).toBe(0);
    expect(n.vzctl('exec', '203', 'ping', '-c1', '-W2', D.v6).code).toBe(0);
    const link = n.ok('exec', '203', 'ip', 'link', 'show', 'eth1');
    expect(link).toMatch(/link\/ether [0-9a-f][26ae]:/); // locally administered, unicast
    expect(n.ok('exec', '203', 'ip', 'route')).toContain(`default via ${v4(19, 254)} dev eth1`);
    // The MACs are stable: the same after a restart.
    const mac = /link\/ether (\S+)/.exec(link)![1];
    n.ok('restart', '203');
    expect(n.ok('exec', '203', 'ip', 'link', 'show', 'eth1')).toContain(mac);
    expect(n.vzctl('exec', '203', 'ping', '-c1', '-W2', D.v4).code).toBe(0);
  });

  it('bridged interfaces are added and removed live', () => {
    n.ok('set', '202', '--netif_add', `eth1,,,,${bridge}`, '--ifname', 'eth1', '--ipadd', `${v4(19, 5)}/24`);
    expect(n.vzctl('exec', '202', 'ping', '-c1', '-W2', C.v4).code).toBe(0);
    expect(fs.readdirSync(`/sys/class/net/${bridge}/brif`)).toContain(`${n.node}-202.0`);
    n.ok('set', '202', '--netif_del', 'eth1');
    expect(fs.readdirSync(`/sys/class/net/${bridge}/brif`)).not.toContain(`${n.node}-202.0`);
    expect(hostLinks(`${n.node}-202.0`)).toEqual([]);
    expect(n.vzctl('exec', '202', 'ip', 'link', 'show', 'eth1').code).not.toBe(0);
    expect(n.vzctl('exec', '202', 'ping', '-c1', '-W2', A.v4).code).toBe(0); // routed still works
  });

  it('refuses an address in use, a malformed address and a bad bridge name: one line, nothing changed', () => {
    const before = { links: hostLinks(n.node).sort(), routes: routesTo([A.v4, B.v4, C.v4]), list: n.vzlist('-a', '-H', '-o', 'ctid,ip').stdout };
    const cases: Array<[string[], number, RegExp]> = [
      [['create', '205', '--ostemplate', 'busybox', '--ipadd', A.v4], 78, new RegExp(`${A.v4.replace(/\./g, '\\.')} is already in use by CT 201`)],
      [['create', '205', '--ostemplate', 'busybox', '--netif_add', `eth1,,,,${bridge}`, '--ifname', 'eth1', '--ipadd', `${C.v4}/24`], 78, /in use by CT 203/],
      [['set', '202', '--ipadd', A.v6], 78, /in use by CT 201/],
      [['set', '202', '--ipadd', '198.18.1.300'], 21, /invalid IP address "198\.18\.1\.300"/],
      [['set', '202', '--ipadd', '2001:db8::zz'], 21, /invalid IP address/],
      [['set', '202', '--ipadd', `${B.v4}/33`], 21, /prefix must be 1\.\.32/],
      [['create', '205', '--ostemplate', 'busybox', '--ipadd', 'not-an-ip'], 21, /invalid IP address "not-an-ip"/],
      [['create', '205', '--ostemplate', 'busybox', '--netif_add', 'eth1,,,,br:0'], 21, /invalid bridge name "br:0"/],
      [['set', '202', '--netif_add', 'eth1,,,,bad/bridge'], 21, /invalid bridge name "bad\/bridge"/],
      [['set', '202', '--netif_add', 'eth1,,,,abridgenamethatistoolong'], 21, /invalid bridge name/],
      [['set', '202', '--ifname', 'eth9', '--ipadd', '198.18.1.1'], 21, /no interface eth9/],
      [['set', '202', '--ipdel', '198.18.1.1'], 21, /not an address of venet0/],
    ];
    for (const [args, code, msg] of cases) {
      const r = n.vzctl(...args);
      expect({ args, code: r.code, stderr: r.stderr }).toMatchObject({ args, code });
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(n.vzctl('status', '205').stdout.trim()).toBe('CTID 205 deleted unmounted down');
    expect({ links: hostLinks(n.node).sort(), routes: routesTo([A.v4, B.v4, C.v4]), list: n.vzlist('-a', '-H', '-o', 'ctid,ip').stdout }).toEqual(before);
    expect(ping(A.v4)).toBe(true);
  });

  it('two creates of the same address at the same moment: exactly one wins, the other gets 78', async () => {
    const run = (id: string) =>
      new Promise<number>((resolve) => {
        const c = spawn(path.join(REPO, 'dist', 'vzctl'), ['create', id, '--ostemplate', 'busybox', '--ipadd', v4(18, 99)], { env: n.env, stdio: 'ignore' });
        c.on('exit', (code) => resolve(code ?? 128));
      });
    const codes = (await Promise.all([run('206'), run('207')])).sort();
    expect(codes).toEqual([0, 78]);
    const owner = n.vzlist('-a', '-H', '-o', 'ctid,ip').stdout.split('\n').filter((l) => l.includes(v4(18, 99)));
    expect(owner).toHaveLength(1);
    for (const id of ['206', '207']) n.vzctl('destroy', id);
  });

  it('writes /etc/hosts and /etc/resolv.conf through RESOLVE_IN_ROOT: planted symlinks never reach host files', () => {
    fs.writeFileSync(hostFile(), 'host content\n');
    n.ok('create', '208', '--ostemplate', 'busybox', '--hostname', 'sym', '--ipadd', v4(18, 8), '--nameserver', '198.18.0.53');
    const priv = `${n.root}/private/208`;
    const uid = fs.statSync(priv).uid;
    // The directory the links point to exists inside the container too: that is where writes must land.
    fs.mkdirSync(`${priv}${path.dirname(hostFile())}`, { recursive: true });
    for (const f of ['etc/resolv.conf', 'etc/hosts']) {
      fs.rmSync(`${priv}/${f}`, { force: true });
      fs.symlinkSync(`/../../../../../../..${hostFile()}`, `${priv}/${f}`);
      fs.lchownSync(`${priv}/${f}`, uid, uid);
    }
    n.ok('start', '208');
    expect(fs.readFileSync(hostFile(), 'utf8')).toBe('host content\n');
    // The link resolved inside the container's root: that is where the content went.
    const inside = fs.readFileSync(`${n.root}/root/208${hostFile()}`, 'utf8');
    expect(inside).toMatch(/nameserver 198\.18\.0\.53|sym/);
    // Live, with a link the container itself made.
    n.ok('exec', '208', 'sh', '-c', `rm -f /etc/resolv.conf && ln -s ../../../../../..${hostFile()} /etc/resolv.conf`);
    n.ok('set', '208', '--nameserver', '198.18.0.54', '--save');
    expect(fs.readFileSync(hostFile(), 'utf8')).toBe('host content\n');
    expect(n.ok('exec', '208', 'cat', hostFile())).toContain('nameserver 198.18.0.54');
    // A FIFO where a file is expected is not opened for writing (it would block vzctl).
    n.ok('exec', '208', 'sh', '-c', 'rm -f /etc/resolv.conf && mkfifo /etc/resolv.conf');
    const r = n.vzctl('set', '208', '--nameserver', '198.18.0.55', '--save');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/not a regular file/);
    n.ok('stop', '208');
    n.ok('destroy', '208');
  });

  it('proxy ARP/NDP: a routed address in the LAN subnet is reachable from the LAN namespace', () => {
    // The "LAN": a namespace on a veth whose host end has 198.18.R.129/25; only this interface
    // forwards (per-interface), as README's prerequisites describe for a real uplink.
    lanNs = spawn('unshare', ['-n', 'sleep', '600'], { stdio: 'ignore' });
    const pid = lanNs.pid!;
    expect(waitFor(() => fs.readlinkSync(`/proc/${pid}/ns/net`) !== fs.readlinkSync('/proc/self/ns/net'), 3000)).toBe(true);
    const ipb = (cmds: string[], ns?: number) => {
      const r = spawnSync(ns ? 'nsenter' : 'ip', ns ? [`--net=/proc/${ns}/ns/net`, 'ip', '-batch', '-'] : ['-batch', '-'], { input: cmds.join('\n') + '\n', encoding: 'utf8' });
      expect(r.stderr).toBe('');
    };
    ipb([`link add ${lanIf} type veth peer name lan0 netns ${pid}`, `addr add ${LAN.host}/25 dev ${lanIf}`, `addr add ${LAN.host6}/64 dev ${lanIf} nodad`, `link set ${lanIf} up`]);
    // On the test's own interface only: forwarding (proxy entries are answered only on a
    // forwarding interface) and no random proxy reply delay (default 0.8 s).
    for (const f of ['ipv4/conf/%/forwarding', 'ipv6/conf/%/forwarding', ...(FORCE_FWD ? ['ipv6/conf/%/force_forwarding'] : []), 'ipv4/neigh/%/proxy_delay', 'ipv6/neigh/%/proxy_delay']) {
      fs.writeFileSync(`/proc/sys/net/${f.replace('%', lanIf)}`, f.endsWith('delay') ? '0' : '1');
    }
    ipb(['link set lo up', 'link set lan0 up', `addr add ${LAN.client}/25 dev lan0`, `addr add ${LAN.client6}/64 dev lan0 nodad`], pid);
    n.ok('create', '209', '--ostemplate', 'busybox', '--ipadd', LAN.ct, '--ipadd', LAN.ct6);
    n.ok('start', '209');
    // neighbour_devs: detect (the default) found the LAN interface by its connected route.
    expect(proxies()).toContain(`${LAN.ct} dev ${lanIf}`);
    expect(proxies()).toContain(`${LAN.ct6} dev ${lanIf}`);
    // The client has no route to anything but its own subnet: ARP/NDP must be answered by the host.
    // IPv6 goes through the host only with force_forwarding (6.17+) or the global switch.
    const v6fwd = FORCE_FWD || fs.readFileSync('/proc/sys/net/ipv6/conf/all/forwarding', 'utf8').trim() === '1';
    expect({ v4: ping(LAN.ct, pid), ...(v6fwd ? { v6: ping(LAN.ct6, pid) } : {}) }).toEqual({ v4: true, ...(v6fwd ? { v6: true } : {}) });
    n.ok('set', '209', '--ipdel', LAN.ct);
    expect(proxies()).not.toContain(`${LAN.ct} dev`);
    n.ok('stop', '209');
    expect(proxies()).not.toContain(lanIf);
    expect(hostLinks(`${n.node}-209`)).toEqual([]);
  });

  it('a container that halts itself leaves no interface, route or proxy entry (the monitor cleans up)', () => {
    n.ok('start', '209');
    expect(proxies()).toContain(`${LAN.ct6} dev ${lanIf}`);
    n.vzctl('exec', '209', 'halt');
    expect(waitFor(() => hostLinks(`${n.node}-209`).length === 0 && !proxies().includes(lanIf), 15_000)).toBe(true);
    expect(routesTo([LAN.ct, LAN.ct6])).toEqual([]);
  });

  it('after stop, destroy and a SIGKILLed start nothing of the container is left on the host', async () => {
    for (const id of ['201', '202', '203', '204']) n.ok('stop', id);
    expect(hostLinks(`${n.node}-`)).toEqual([]);
    expect(routesTo([A.v4, A.v6, B.v4, B.v6])).toEqual([]);
    expect(fs.readdirSync(`/sys/class/net/${bridge}/brif`)).toEqual([]); // the bridge stays, without ports
    // SIGKILL while the start is setting up the network (the host end exists, init not yet running) and later.
    for (const delay of [-1, 300]) {
      const child = spawn(path.join(REPO, 'dist', 'vzctl'), ['start', '201'], { env: n.env, stdio: 'ignore' });
      const exited = new Promise((r) => child.on('exit', r));
      if (delay < 0) await new Promise<void>((r) => { const t = setInterval(() => { if (hostLinks(`${n.node}-201`).length) { clearInterval(t); r(); } }, 1); });
      else await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await exited;
      // The helper aborts (or the container runs): either way the next command reconciles.
      const st = n.vzctl('stop', '201');
      expect([0, 31]).toContain(st.code);
      expect(waitFor(() => hostLinks(`${n.node}-201`).length === 0, 5000)).toBe(true);
      expect(routesTo([A.v4, A.v6])).toEqual([]);
      expect(fs.existsSync(`${n.root}/run/201.netdown`)).toBe(false);
    }
    n.ok('start', '201');
    expect(ping(A.v4)).toBe(true);
    n.ok('stop', '201');
    for (const id of ['201', '202', '203', '204', '209']) n.ok('destroy', id);
    expect(n.vzlist('-a', '-H', '-o', 'ctid,ip').stdout.trim()).toBe('');
    expect(hostLinks(`${n.node}-`)).toEqual([]);
    expect(routesTo([A.v4, A.v6, B.v4, B.v6, C.v4, D.v4, LAN.ct, LAN.ct6])).toEqual([]);
    expect(proxies()).not.toContain(lanIf);
  });
});
