// The "migrate" section of run.mjs: vzmigrate --online between two nodes on this machine (the
// second one a network namespace with its own sshd, as in test/integration/migrate/rig.ts),
// frozen time and total time for 16 MiB, 256 MiB and 1 GiB of touched memory, beside the floor
// of this approach: a bare `criu dump` + `criu restore` of the same container to local disk
// (vzkit's own criu calls in vzctl suspend/resume, so the arguments are the same, timed by CRIU's
// own log: the last timestamp of dump.log and restore.log is its run time. A wrapper script around
// criu cannot be used: --restore-sibling makes the restored init the wrapper's child).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { median, nowMs, run, sleep, state } from './lib.mjs';
import { REPO, rmCgroupTree } from './sides.mjs';

// VZKIT_CRIU: another CRIU build (vzkit honours it; DEST gets it through its sshd's SetEnv).
const CRIU = process.env.VZKIT_CRIU ?? '/opt/vzkit/criu/sbin/criu';

class Node {
  /** nodeConfig: the rest of the node's vzkit.yaml (the busybox sections turn sysinfo_intercept off). */
  constructor(dir, node, idmapBase, nodeConfig) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
    this.root = path.join(dir, 'root');
    this.node = node;
    this.configFile = path.join(dir, 'vzkit.yaml');
    fs.writeFileSync(this.configFile, `root: ${this.root}\nnode: ${node}\nidmap: {base: ${idmapBase}, count: 8}\n${nodeConfig}stop_timeout: 10\n`);
    this.env = { ...process.env, VZKIT_CONFIG: this.configFile };
  }
  vzctl(args, extraEnv = {}) {
    return run(path.join(REPO, 'dist/vzctl'), args, { env: { ...this.env, ...extraEnv }, timeout: 300_000 });
  }
}

/** Mount points at or below dir, deepest first. */
function mountsUnder(dir) {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4])
    .filter((m) => m && (m === dir || m.startsWith(dir + '/'))).sort((a, b) => b.length - a.length);
}

/**
 * Two nodes, a namespace with its veth and sshd; close() removes all of it.
 * nodeConfig: the rest of both nodes' vzkit.yaml (default: sysinfo_intercept off, as the busybox
 * sections were measured; the Debian section runs the default config).
 */
function makeRig(tmp, log, { nodeConfig = 'sysinfo_intercept: false\n', dirName = 'mig' } = {}) {
  const R = 10 + Math.floor(Math.random() * 240);
  const tag = 'bm' + Math.random().toString(36).slice(2, 6);
  const rig = { R, ns: `${tag}ns`, hostIf: `${tag}h`, dest: `198.19.${R}.2`, dir: path.join(tmp, dirName), fences: [`198.18.${R}.0/24`, `198.19.${R}.0/24`] };
  rig.src = new Node(path.join(rig.dir, 'src'), `${tag}s`, 9000000, nodeConfig);
  rig.dst = new Node(path.join(rig.dir, 'dst'), `${tag}d`, 9000000, nodeConfig);
  const sh = (cmd, args) => run(cmd, args, { always: true });
  for (const f of rig.fences) run('ip', ['route', 'add', 'unreachable', f], { allowFail: true });
  sh('ip', ['netns', 'add', rig.ns]);
  sh('ip', ['link', 'add', rig.hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', rig.ns]);
  sh('ip', ['addr', 'add', `198.19.${R}.1/30`, 'dev', rig.hostIf]);
  sh('ip', ['link', 'set', rig.hostIf, 'up']);
  for (const a of [['link', 'set', 'lo', 'up'], ['addr', 'add', `${rig.dest}/30`, 'dev', 'eth0'], ['link', 'set', 'eth0', 'up'], ['route', 'add', 'default', 'via', `198.19.${R}.1`]]) {
    sh('ip', ['-n', rig.ns, ...a]);
  }
  const k = path.join(rig.dir, 'ssh');
  fs.mkdirSync(k, { mode: 0o700 });
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(k, 'host_key')]);
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(k, 'client_key')]);
  fs.copyFileSync(path.join(k, 'client_key.pub'), path.join(k, 'authorized_keys'));
  fs.writeFileSync(path.join(k, 'known_hosts'), `${rig.dest} ${fs.readFileSync(path.join(k, 'host_key.pub'), 'utf8')}`);
  fs.writeFileSync(path.join(k, 'sshd_config'), [`ListenAddress ${rig.dest}`, `HostKey ${path.join(k, 'host_key')}`, `PidFile ${path.join(k, 'sshd.pid')}`,
    `AuthorizedKeysFile ${path.join(k, 'authorized_keys')}`, 'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'UsePAM no', 'StrictModes no',
    'AllowTcpForwarding yes', 'MaxSessions 50', `SetEnv VZKIT_CONFIG=${rig.dst.configFile}${process.env.VZKIT_CRIU ? ` VZKIT_CRIU=${process.env.VZKIT_CRIU}` : ''}`, ''].join('\n'));
  fs.mkdirSync('/run/sshd', { recursive: true });
  rig.sshd = spawn('nsenter', [`--net=/var/run/netns/${rig.ns}`, '/usr/sbin/sshd', '-D', '-e', '-f', path.join(k, 'sshd_config')], { stdio: 'ignore' });
  rig.sshOpts = `-i ${path.join(k, 'client_key')} -o UserKnownHostsFile=${path.join(k, 'known_hosts')} -o IdentitiesOnly=yes`;
  rig.close = () => {
    for (const [n, ids] of [[rig.src, rig.srcIds], [rig.dst, rig.dstIds]]) {
      for (const id of ids) {
        run(path.join(REPO, 'dist/vzctl'), ['stop', '--fast', String(id)], { env: n.env, allowFail: true, always: true });
        run(path.join(REPO, 'dist/vzctl'), ['destroy', String(id)], { env: n.env, allowFail: true, always: true });
      }
    }
    rig.sshd.kill('SIGKILL');
    // What a failed run may leave: monitors and inits (SIGKILL, from the nodes' pid files), then
    // mounts (an image's loop mount) under the rig's dir and the loop devices of its images.
    for (const n of [rig.src, rig.dst]) {
      const runDir = path.join(n.root, 'run');
      for (const f of fs.existsSync(runDir) ? fs.readdirSync(runDir).filter((x) => x.endsWith('.pid')) : []) {
        for (const pid of fs.readFileSync(path.join(runDir, f), 'utf8').trim().split(/\s+/).map(Number)) {
          try {
            if (pid > 0) process.kill(pid, 'SIGKILL');
          } catch {}
        }
      }
    }
    for (const m of mountsUnder(rig.dir)) run('umount', ['-l', m], { allowFail: true, always: true });
    for (const l of run('losetup', ['-nO', 'NAME,BACK-FILE'], { allowFail: true, always: true }).stdout.split('\n')) {
      const [dev, file] = l.trim().split(/\s+/);
      if (dev && file?.startsWith(rig.dir + '/')) run('losetup', ['-d', dev], { allowFail: true, always: true });
    }
    run('ip', ['netns', 'del', rig.ns], { allowFail: true, always: true });
    run('ip', ['link', 'del', rig.hostIf], { allowFail: true, always: true });
    // Host routes to the containers' addresses that a failed stop left (the fences go last).
    const left = run('ip', ['-o', 'route', 'show', 'root', rig.fences[0]], { allowFail: true, always: true }).stdout;
    for (const m of left.matchAll(/^(\d+\.\d+\.\d+\.\d+)\s/gm)) run('ip', ['route', 'del', `${m[1]}/32`], { allowFail: true, always: true });
    for (const f of rig.fences) run('ip', ['route', 'del', 'unreachable', f], { allowFail: true, always: true });
    for (const n of [rig.src, rig.dst]) {
      for (const c of fs.readdirSync('/sys/fs/cgroup')) rmCgroupTree(`/sys/fs/cgroup/${c}/${n.node}`);
    }
  };
  rig.srcIds = new Set();
  rig.dstIds = new Set();
  log(`migrate rig: DEST ${rig.dest} in netns ${rig.ns}`);
  return rig;
}

/**
 * A busybox CT whose init starts the workload holding `mib` MiB (test/integration/criu/workload.c).
 * `layout`: extra create options (e.g. ['--layout', 'image', '--diskspace', '4G']); an image's
 * files are written through its mount; `dataMiB` of random data go into /data first.
 */
async function workloadCt(rig, node, ctid, mib, binary, { layout = [], dataMiB = 0 } = {}) {
  node.vzctl(['create', String(ctid), '--ostemplate', 'busybox', '--config', 'unlimited', '--ipadd', `198.18.${rig.R}.${ctid % 250}`, ...layout, '-q']);
  const image = layout.includes('image');
  if (image) node.vzctl(['mount', String(ctid), '-q']);
  const priv = image ? path.join(node.root, 'root', String(ctid)) : path.join(node.root, 'private', String(ctid));
  const st = fs.statSync(priv);
  if (dataMiB) {
    run('dd', ['if=/dev/urandom', `of=${path.join(priv, 'data')}`, 'bs=1M', `count=${dataMiB}`], { allowFail: false });
    fs.chownSync(path.join(priv, 'data'), st.uid, st.gid);
  }
  fs.copyFileSync(binary, path.join(priv, 'workload'));
  fs.chmodSync(path.join(priv, 'workload'), 0o755);
  fs.appendFileSync(path.join(priv, 'etc/inittab'), `::once:/workload mem /memsum ${mib}\n::once:/workload counter /counter.log\n`);
  fs.chownSync(path.join(priv, 'etc/inittab'), st.uid, st.gid);
  if (image) node.vzctl(['umount', String(ctid), '-q']);
  node.vzctl(['start', String(ctid), '-q']);
  for (let i = 0; i < 600; i++) {
    const r = run(path.join(REPO, 'dist/vzctl'), ['exec', String(ctid), 'cat', '/memsum'], { env: node.env, allowFail: true });
    if (r.code === 0 && r.stdout.trim()) return;
    await sleep(100);
  }
  throw new Error(`CT ${ctid}: the workload did not fill its memory`);
}

/** The floor: vzctl suspend + resume, counting only criu's dump and restore (their logs' last timestamp). */
async function floor(rig, ctid, mib, binary) {
  rig.srcIds.add(ctid);
  await workloadCt(rig, rig.src, ctid, mib, binary);
  const dir = path.join(rig.src.root, 'dump', String(ctid));
  const lastStamp = (file) => {
    const stamps = [...fs.readFileSync(file, 'utf8').matchAll(/^\((\d+\.\d+)\)/gm)];
    return Math.round(Number(stamps[stamps.length - 1][1]) * 1000);
  };
  rig.src.vzctl(['suspend', String(ctid), '-q']);
  const dump = lastStamp(path.join(dir, 'dump.log'));
  rig.src.vzctl(['resume', String(ctid), '-q', '--keep-dump']);
  const restore = lastStamp(path.join(dir, 'restore.log'));
  fs.rmSync(dir, { recursive: true, force: true });
  rig.src.vzctl(['stop', '--fast', String(ctid), '-q']);
  rig.src.vzctl(['destroy', String(ctid), '-q']);
  rig.srcIds.delete(ctid);
  return { dump, restore };
}

async function online(rig, ctid, mib, binary, ctOpts) {
  rig.srcIds.add(ctid);
  await workloadCt(rig, rig.src, ctid, mib, binary, ctOpts);
  const t0 = nowMs();
  const r = run(path.join(REPO, 'dist/vzmigrate'), [`--ssh=${rig.sshOpts}`, '--online', '-t', rig.dest, String(ctid)], { env: rig.src.env, timeout: 600_000 });
  const wall = nowMs() - t0;
  rig.srcIds.delete(ctid);
  rig.dstIds.add(ctid);
  const frozen = Number(/frozen time\s+([\d.]+) s/.exec(r.stdout)?.[1]) * 1000;
  const total = Number(/^\s+total\s+([\d.]+) s/m.exec(r.stdout)?.[1]) * 1000;
  const stages = [...r.stdout.matchAll(/^ {2}(\S.*?)\s{2,}([\d.]+) s$/gm)].map((m) => `${m[1]} ${m[2]}`).join(', ');
  // Inside the frozen window (vzmigrate -t): when each step ended, from the freeze.
  const steps = [...r.stdout.matchAll(/^ {4}\+ (\S.*?)\s{2,}([\d.]+) s$/gm)].map((m) => `${m[1]} +${m[2]}`).join(', ');
  const synced = /\(final\): (.*)$/m.exec(r.stdout)?.[1] ?? '';
  rig.dst.vzctl(['stop', '--fast', String(ctid), '-q']);
  rig.dst.vzctl(['destroy', String(ctid), '-q']);
  rig.dstIds.delete(ctid);
  return { frozen, total, wall, stages };
}

/**
 * The "migrate-image" section: frozen time of the image layout at two image sizes (sparse, the
 * same files inside) beside the dir layout, as ratios (issue 14's target: within 1.2x). Each
 * round migrates one CT of each kind in turn, each round starting with the next kind (16 MiB of
 * touched memory, 64 MiB of data on disk).
 */
export async function migrateImageSection({ tmp, quick, row, notes, log }) {
  if (!fs.existsSync(CRIU) || spawnSync(CRIU, ['check']).status !== 0) throw new Error(`${CRIU} missing or criu check fails: sh scripts/setup.sh`);
  if (!fs.existsSync('/usr/sbin/sshd')) throw new Error('openssh-server is missing: sh scripts/setup.sh');
  const binary = path.join(tmp, 'workload');
  run('gcc', ['-static', '-O2', '-o', binary, path.join(REPO, 'test/integration/criu/workload.c')]);
  const rig = makeRig(tmp, log);
  const kinds = [
    { name: 'dir', layout: [] },
    { name: 'image 4 GiB', layout: ['--layout', 'image', '--diskspace', '4G'] },
    { name: 'image 40 GiB', layout: ['--layout', 'image', '--diskspace', '40G'] },
  ];
  try {
    for (let i = 0; i < 50 && run('ssh', [...rig.sshOpts.split(' '), '-o', 'BatchMode=yes', `root@${rig.dest}`, 'true'], { allowFail: true }).code !== 0; i++) await sleep(100);
    const reps = quick ? 1 : 3;
    const res = new Map(kinds.map((k) => [k.name, []]));
    let ctid = 700;
    for (let i = 0; i < reps; i++) {
      // Each round starts with another kind: what one run leaves to the host (writeback of the
      // removed copies) does not always land on the same kind.
      for (const k of [...kinds.slice(i % kinds.length), ...kinds.slice(0, i % kinds.length)]) {
        const m = await online(rig, ctid++, 16, binary, { layout: k.layout, dataMiB: 64 });
        res.get(k.name).push(m);
        log(`migrate ${k.name}: frozen ${Math.round(m.frozen)} ms, total ${Math.round(m.total)} ms (${m.stages})`);
      }
    }
    const dir = median(res.get('dir').map((x) => x.frozen));
    for (const k of kinds.slice(1)) {
      const opts = { peerLabel: 'dir layout', vzCmd: `vzmigrate --online, ${k.name} (frozen time)`, peerCmd: 'vzmigrate --online, dir layout (frozen time)' };
      row(`migrate --online ${k.name}: frozen time vs dir layout`, median(res.get(k.name).map((x) => x.frozen)), dir, opts);
    }
    for (const k of kinds) notes.push(`migrate ${k.name} (16 MiB touched, 64 MiB data): frozen ${res.get(k.name).map((x) => Math.round(x.frozen)).join('/')} ms, total ${res.get(k.name).map((x) => Math.round(x.total)).join('/')} ms; stages of the last run: ${res.get(k.name).at(-1).stages}`);
  } finally {
    rig.close();
  }
}

/** rows: (op, vz, peer, opts) => void, as run.mjs's row(); notes: string[]. */
export async function migrateSection({ tmp, quick, row, notes, log }) {
  if (!fs.existsSync(CRIU) || spawnSync(CRIU, ['check']).status !== 0) throw new Error(`${CRIU} missing or criu check fails: sh scripts/setup.sh`);
  if (!fs.existsSync('/usr/sbin/sshd')) throw new Error('openssh-server is missing: sh scripts/setup.sh');
  const binary = path.join(tmp, 'workload');
  run('gcc', ['-static', '-O2', '-o', binary, path.join(REPO, 'test/integration/criu/workload.c')]);
  const rig = makeRig(tmp, log);
  try {
    for (let i = 0; i < 50 && run('ssh', [...rig.sshOpts.split(' '), '-o', 'BatchMode=yes', `root@${rig.dest}`, 'true'], { allowFail: true }).code !== 0; i++) await sleep(100);
    const sizes = quick ? [16, 256] : [16, 256, 1024];
    const reps = quick ? 1 : 3;
    let ctid = 600;
    for (const mib of sizes) {
      const f = [];
      const m = [];
      for (let i = 0; i < reps; i++) {
        f.push(await floor(rig, ctid++, mib, binary));
        m.push(await online(rig, ctid++, mib, binary));
        log(`migrate ${mib} MiB: frozen ${Math.round(m[i].frozen)} ms, total ${Math.round(m[i].total)} ms; floor dump ${f[i].dump} + restore ${f[i].restore} ms (${m[i].stages})`);
      }
      const fl = median(f.map((x) => x.dump + x.restore));
      const opts = { peerLabel: 'criu dump+restore', vzCmd: 'vzmigrate --online -t (frozen time)', peerCmd: 'criu dump + criu restore, local disk' };
      row(`migrate --online ${mib} MiB: frozen time vs bare dump+restore`, median(m.map((x) => x.frozen)), fl, opts);
      row(`migrate --online ${mib} MiB: total time vs bare dump+restore`, median(m.map((x) => x.total)), fl, { ...opts, vzCmd: 'vzmigrate --online -t (total)' });
      notes.push(`migrate ${mib} MiB: floor = criu dump ${median(f.map((x) => x.dump))} ms + criu restore ${median(f.map((x) => x.restore))} ms (median of ${reps}); stages of the last run: ${m[m.length - 1].stages}`);
    }
  } finally {
    rig.close();
  }
}

// ---- migrate-debian (issue 14): a stock Debian 12 VPS, the default node config

const DEB_CACHE = '/var/cache/vzkit-test/templates';
/** A customer's service holding touched memory: the busybox sections' workload, as a systemd unit. */
const MEM_UNIT = (mib) => `[Unit]
Description=vzkit bench: ${mib} MiB of touched memory
[Service]
ExecStart=/usr/local/sbin/vzbench-workload mem /memsum ${mib}
[Install]
WantedBy=multi-user.target
`;

/** systemctl is-system-running --wait inside, asked again while systemd's bus is not there yet. */
async function systemState(node, ctid) {
  for (let i = 0; i < 300; i++) {
    const r = run(path.join(REPO, 'dist/vzctl'), ['exec', String(ctid), 'systemctl', 'is-system-running', '--wait'], { env: node.env, allowFail: true, timeout: 120_000 });
    const s = r.stdout.trim();
    if (s && !/Failed to connect to bus/.test(r.stderr)) return s;
    await sleep(100);
  }
  return 'no bus';
}

/**
 * CT `ctid` on `node`: `vzctl create --ostemplate debian-12` from the tests' template cache with the
 * default profile (512M RAM, one CPU), routed address; with `mib`, a unit running the workload that
 * touches `mib` MiB, written into the tree before the first start (through the image's mount for
 * the image layout). Started, booted (`running`), the workload's memory filled, then `settleMs` idle.
 */
async function debianCt(rig, node, ctid, { mib, layout, binary, settleMs }) {
  const id = String(ctid);
  node.vzctl(['create', id, '--ostemplate', 'debian-12', '--hostname', `deb${ctid}`, '--ipadd', `198.18.${rig.R}.${ctid % 250}`, ...layout, '-q']);
  if (mib) {
    const image = layout.includes('image');
    if (image) node.vzctl(['mount', id, '-q']);
    const priv = image ? path.join(node.root, 'root', id) : path.join(node.root, 'private', id);
    const { uid, gid } = fs.statSync(priv);
    const put = (rel, data, mode) => {
      const f = path.join(priv, rel);
      fs.writeFileSync(f, data, { mode });
      fs.chownSync(f, uid, gid);
    };
    put('usr/local/sbin/vzbench-workload', fs.readFileSync(binary), 0o755);
    put('etc/systemd/system/vzbench-mem.service', MEM_UNIT(mib), 0o644);
    const wants = path.join(priv, 'etc/systemd/system/multi-user.target.wants');
    if (!fs.existsSync(wants)) {
      fs.mkdirSync(wants);
      fs.chownSync(wants, uid, gid);
    }
    fs.symlinkSync('/etc/systemd/system/vzbench-mem.service', path.join(wants, 'vzbench-mem.service'));
    fs.lchownSync(path.join(wants, 'vzbench-mem.service'), uid, gid);
    if (image) node.vzctl(['umount', id, '-q']);
  }
  node.vzctl(['start', id, '--wait', '-q']);
  const state = await systemState(node, ctid);
  if (mib) {
    let ok = false;
    for (let i = 0; i < 600 && !ok; i++) {
      const r = run(path.join(REPO, 'dist/vzctl'), ['exec', id, 'cat', '/memsum'], { env: node.env, allowFail: true });
      ok = r.code === 0 && r.stdout.trim() !== '';
      if (!ok) await sleep(100);
    }
    if (!ok) throw new Error(`CT ${ctid}: the workload did not fill its memory`);
  }
  await sleep(settleMs);
  return state;
}

/** The last timestamp of a CRIU log ("(12.345678) ..."), i.e. its run time, in ms. */
function criuLogMs(file) {
  const stamps = [...fs.readFileSync(file, 'utf8').matchAll(/^\((\d+\.\d+)\)/gm)];
  return Math.round(Number(stamps[stamps.length - 1][1]) * 1000);
}

/** When a dump froze the tasks ("Seized task", right after the freezer's freeze), in ms from its start. */
function criuSeizeMs(file) {
  const m = /^\((\d+\.\d+)\) Seized task/m.exec(fs.readFileSync(file, 'utf8'));
  return m ? Math.round(Number(m[1]) * 1000) : 0;
}

/**
 * One CT of one kind, measured: boot, the floor on that same CT (vzctl suspend + resume: CRIU's
 * dump and restore run times from their logs), then `vzmigrate --online -t` to DEST (frozen and
 * total time), systemd's state there, destroy. Fills `m` as it goes; throws when a step fails
 * (the caller cleans up; what `m` holds by then still counts, e.g. the floor).
 */
async function debianRun(rig, id, kind, binary, settleMs, m) {
  const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
  // On both until it is gone: a failed migration may leave its one copy on either node.
  rig.srcIds.add(id);
  rig.dstIds.add(id);
  const booted = await debianCt(rig, rig.src, id, { mib: kind.mib, layout: kind.layout, binary, settleMs });
  const dumpDir = path.join(rig.src.root, 'dump', String(id));
  const t0 = nowMs();
  rig.src.vzctl(['suspend', String(id), '-q']);
  const t1 = nowMs();
  // The floor's frozen part: its dump from the freeze on (what comes before runs beside the
  // tasks), like vzmigrate's frozen time, which counts from CRIU's freeze too.
  const dump = criuLogMs(path.join(dumpDir, 'dump.log')) - criuSeizeMs(path.join(dumpDir, 'dump.log'));
  rig.src.vzctl(['resume', String(id), '-q', '--keep-dump']);
  const t2 = nowMs();
  const restore = criuLogMs(path.join(dumpDir, 'restore.log'));
  Object.assign(m, { dump, restore, suspendMs: t1 - t0, resumeMs: t2 - t1 });
  if (process.env.VZBENCH_TRACE) {
    const keep = path.join(path.resolve(process.env.VZBENCH_TRACE), String(id));
    fs.mkdirSync(keep, { recursive: true });
    for (const f of ['dump.log', 'restore.log']) fs.copyFileSync(path.join(dumpDir, f), path.join(keep, `floor-${f}`));
  }
  fs.rmSync(dumpDir, { recursive: true, force: true });
  const resumed = await systemState(rig.src, id);
  await sleep(settleMs);
  const loadBefore = load();
  m.load = loadBefore;
  // VZBENCH_TRACE=DIR: copies the migration's CRIU logs into DIR/CTID as they grow (source dump
  // with the page server, DEST restore), for their run times inside the frozen time. Off by
  // default: the copying costs CPU while frozen.
  const trace = process.env.VZBENCH_TRACE ? path.join(path.resolve(process.env.VZBENCH_TRACE), String(id)) : null;
  let poller;
  if (trace) {
    fs.mkdirSync(trace, { recursive: true });
    const destDump = path.join(rig.dst.root, 'dump', `${id}.migrate`);
    poller = spawn('sh', ['-c', `while :; do for f in /tmp/vzmigrate-${id}-*/dump.log; do [ -f "$f" ] && cp "$f" ${trace}/dump.log; done; [ -f ${destDump}/restore.log ] && cp ${destDump}/restore.log ${trace}/restore.log; sleep 0.02; done`], { stdio: 'ignore' });
  }
  const t3 = nowMs();
  let r;
  try {
    r = run(path.join(REPO, 'dist/vzmigrate'), [`--ssh=${rig.sshOpts}`, '--online', '-t', rig.dest, String(id)], { env: rig.src.env, timeout: 600_000 });
  } finally {
    poller?.kill('SIGKILL');
  }
  const wall = nowMs() - t3;
  if (trace) {
    const logMs = (f) => (fs.existsSync(path.join(trace, f)) ? criuLogMs(path.join(trace, f)) : NaN);
    Object.assign(m, { migDump: logMs('dump.log'), migRestore: logMs('restore.log') });
  }
  rig.srcIds.delete(id);
  const frozen = Number(/frozen time\s+([\d.]+) s/.exec(r.stdout)?.[1]) * 1000;
  const total = Number(/^\s+total\s+([\d.]+) s/m.exec(r.stdout)?.[1]) * 1000;
  const stages = [...r.stdout.matchAll(/^ {2}(\S.*?)\s{2,}([\d.]+) s$/gm)].map((m) => `${m[1]} ${m[2]}`).join(', ');
  // Inside the frozen window (vzmigrate -t): when each step ended, from the freeze.
  const steps = [...r.stdout.matchAll(/^ {4}\+ (\S.*?)\s{2,}([\d.]+) s$/gm)].map((m) => `${m[1]} +${m[2]}`).join(', ');
  const synced = /\(final\): (.*)$/m.exec(r.stdout)?.[1] ?? '';
  const onDest = await systemState(rig.dst, id);
  rig.dst.vzctl(['stop', '--fast', String(id), '-q']);
  rig.dst.vzctl(['destroy', String(id), '-q']);
  rig.dstIds.delete(id);
  return Object.assign(m, { frozen, total, wall, stages: `${stages}; frozen: ${steps}; final sync: ${synced}`, states: `${booted}/${resumed}/${onDest}` });
}

/**
 * The "migrate-debian" section (issue 14): a stock Debian 12 VPS under the default node config (the
 * sysinfo listener on; systemd's services keep their nested UTS/IPC namespaces), idle and with 256
 * MiB touched by a service, dir and image layouts, each beside the bare CRIU floor of the same CT.
 * Each round does every kind once, each round starting with the next kind. A run that fails is
 * noted and cleaned up, the others go on; the section then fails with the count.
 */
export async function migrateDebianSection({ tmp, quick, row, notes, log }) {
  if (!fs.existsSync(CRIU) || spawnSync(CRIU, ['check']).status !== 0) throw new Error(`${CRIU} missing or criu check fails: sh scripts/setup.sh`);
  if (!fs.existsSync('/usr/sbin/sshd')) throw new Error('openssh-server is missing: sh scripts/setup.sh');
  if (!fs.existsSync(path.join(DEB_CACHE, 'debian-12', '.vzkit-complete'))) {
    throw new Error(`no Debian 12 cache in ${DEB_CACHE}: build it with vzctl template build debian-12 (template_cache: ${DEB_CACHE})`);
  }
  const nested = spawnSync(CRIU, ['check', '--feature', 'nested_uts_ipc']).status === 0;
  const binary = path.join(tmp, 'workload');
  run('gcc', ['-static', '-O2', '-o', binary, path.join(REPO, 'test/integration/criu/workload.c')]);
  // The default node config: only where the nodes live and the template cache (nothing is built).
  const rig = makeRig(tmp, log, { nodeConfig: `template_cache: ${DEB_CACHE}\n`, dirName: 'migdeb' });
  const image = ['--layout', 'image', '--diskspace', '4G'];
  const kinds = [
    { name: 'idle, dir', mib: 0, layout: [] },
    { name: '256 MiB, dir', mib: 256, layout: [] },
    { name: 'idle, image', mib: 0, layout: image },
    { name: '256 MiB, image', mib: 256, layout: image },
  ].filter((k) => !process.env.VZBENCH_KINDS || process.env.VZBENCH_KINDS.split(';').includes(k.name)); // e.g. "idle, dir;idle, image"
  if (!kinds.length) throw new Error(`VZBENCH_KINDS: none of its kinds exists`);
  const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
  const failed = [];
  // A failed run's logs (results/*.log are not committed).
  const keepLogs = path.join(REPO, 'test/bench/results/last-logs-migrate-debian');
  fs.rmSync(keepLogs, { recursive: true, force: true });
  try {
    const listed = rig.src.vzctl(['template', 'list']).stdout;
    if (!/^debian-12\s+yes\b/m.test(listed)) throw new Error(`debian-12 is not cached (or stale) in ${DEB_CACHE}:\n${listed}`);
    for (let i = 0; i < 50 && run('ssh', [...rig.sshOpts.split(' '), '-o', 'BatchMode=yes', `root@${rig.dest}`, 'true'], { allowFail: true }).code !== 0; i++) await sleep(100);
    const reps = quick ? 1 : 3;
    const settleMs = quick ? 2000 : 3000;
    const res = new Map(kinds.map((k) => [k.name, []]));
    const loads = [load()];
    let ctid = 800;
    for (let i = 0; i < reps; i++) {
      for (const k of [...kinds.slice(i % kinds.length), ...kinds.slice(0, i % kinds.length)]) {
        const id = ctid++;
        const m = {};
        try {
          await debianRun(rig, id, k, binary, settleMs, m);
          res.get(k.name).push(m);
          loads.push(m.load);
          log(`migrate-debian ${k.name} (CT ${id}): frozen ${Math.round(m.frozen)} ms, total ${Math.round(m.total)} ms; floor dump ${m.dump} + restore ${m.restore} ms; systemd ${m.states}; load ${m.load} (${m.stages})`);
        } catch (e) {
          if (state.interrupted) throw e; // rig.close() removes it
          // The command line (ssh options) is left out; vzmigrate's own line says the rest.
          let msg = String(e.message ?? e).split('\n')[0].replace(/^vzmigrate .*? exited (\d+): /, 'vzmigrate exited $1: ').slice(0, 600);
          // What a failed migration left: the source should still run its one copy.
          const st = (n) => run(path.join(REPO, 'dist/vzctl'), ['status', String(id)], { env: n.env, allowFail: true }).stdout.trim().replace(/^CTID \d+ /, '');
          msg += ` [afterwards: source ${st(rig.src)}; DEST ${st(rig.dst)}]`;
          if (Number.isFinite(m.dump)) {
            res.get(k.name).push(m); // its floor still counts
            msg += ` [its floor: dump ${m.dump} + restore ${m.restore} ms]`;
          }
          if (m.load) loads.push(m.load);
          failed.push(`${k.name} (CT ${id}): ${msg}`);
          log(`migrate-debian ${k.name} (CT ${id}) FAILED: ${msg}`);
          // Its logs on both nodes (monitor, console, a failed CRIU's log), before the destroy.
          for (const [side, n] of [['src', rig.src], ['dst', rig.dst]]) {
            const dir = path.join(n.root, 'log');
            for (const f of fs.existsSync(dir) ? fs.readdirSync(dir).filter((x) => x.startsWith(`${id}.`)) : []) {
              fs.mkdirSync(path.join(keepLogs, String(id), side), { recursive: true });
              fs.copyFileSync(path.join(dir, f), path.join(keepLogs, String(id), side, f));
            }
          }
          // vzmigrate leaves one copy, on either node: both are asked.
          for (const [n, ids] of [[rig.src, rig.srcIds], [rig.dst, rig.dstIds]]) {
            for (const verb of ['stop', 'destroy']) run(path.join(REPO, 'dist/vzctl'), [verb, ...(verb === 'stop' ? ['--fast'] : []), String(id), '-q'], { env: n.env, allowFail: true });
            ids.delete(id);
          }
          fs.rmSync(path.join(rig.src.root, 'dump', String(id)), { recursive: true, force: true });
        }
      }
    }
    const med = (k, f) => median(res.get(k).map(f));
    const fl = (k) => med(k, (x) => x.dump + x.restore);
    const fOpts = { peerLabel: 'criu dump+restore', vzCmd: "vzmigrate --online -t (frozen time: from CRIU's freeze to DEST's answer)", peerCmd: 'criu dump (from its freeze) + criu restore of the same CT, local disk (vzctl suspend/resume, CRIU logs)' };
    for (const k of kinds) {
      row(`migrate --online Debian 12 ${k.name}: frozen time vs bare dump+restore`, med(k.name, (x) => x.frozen), fl(k.name), fOpts);
      row(`migrate --online Debian 12 ${k.name}: total time vs bare dump+restore`, med(k.name, (x) => x.total), fl(k.name), { ...fOpts, vzCmd: 'vzmigrate --online -t (total)' });
    }
    for (const what of ['idle', '256 MiB']) {
      if (!res.has(`${what}, image`) || !res.has(`${what}, dir`)) continue;
      row(`migrate --online Debian 12 ${what}: image frozen time vs dir`, med(`${what}, image`, (x) => x.frozen), med(`${what}, dir`, (x) => x.frozen), {
        peerLabel: 'dir layout', vzCmd: 'vzmigrate --online, image layout 4 GiB (frozen time)', peerCmd: 'vzmigrate --online, dir layout (frozen time)',
      });
    }
    notes.push(`migrate-debian: default node config (sysinfo_intercept on), CRIU ${CRIU}${nested ? ' (nested_uts_ipc: patch 0003)' : ' WITHOUT nested_uts_ipc'}, default profile (512M RAM, cpulimit 100); ${reps} round(s), ${settleMs} ms idle after boot and after the resume; load average (1/5/15 min) at the start and before each vzmigrate: ${loads.join('; ')}`);
    for (const k of kinds) {
      const xs = res.get(k.name).filter((x) => x.stages !== undefined);
      if (!xs.length) continue;
      const ms = (f) => xs.map((x) => Math.round(f(x))).join('/');
      if (xs.some((x) => 'migDump' in x)) notes.push(`migrate-debian ${k.name}, CRIU inside the migration (VZBENCH_TRACE, last line seen): dump with the page server ${ms((x) => x.migDump)} ms, restore on DEST ${ms((x) => x.migRestore)} ms`);
      notes.push(`migrate-debian ${k.name}: frozen ${ms((x) => x.frozen)} ms, total ${ms((x) => x.total)} ms, vzmigrate wall ${ms((x) => x.wall)} ms; floor dump ${ms((x) => x.dump)} + restore ${ms((x) => x.restore)} ms (vzctl suspend ${ms((x) => x.suspendMs)}, resume ${ms((x) => x.resumeMs)} ms); systemd booted/resumed/on DEST: ${xs.map((x) => x.states).join(', ')}; stages of each run: ${xs.map((x) => `[${x.stages}]`).join(' ')}`);
    }
    for (const f of failed) notes.push(`migrate-debian FAILED ${f}`);
    if (failed.length) throw new Error(`${failed.length} of ${reps * kinds.length} runs failed (see the notes); first: ${failed[0]}`);
  } catch (e) {
    // Both nodes' logs (monitors, kept CRIU logs) for a look; the rig's dir goes with the run.
    for (const [side, n] of [['src', rig.src], ['dst', rig.dst]]) {
      try {
        fs.cpSync(path.join(n.root, 'log'), path.join(keepLogs, side), { recursive: true });
      } catch {}
    }
    log(`kept the logs in ${keepLogs}`);
    throw e;
  } finally {
    rig.close();
  }
}
