// The "migrate" section of run.mjs: vzmigrate --online between two nodes on this machine (the
// second one a network namespace with its own sshd, as in test/integration/migrate/rig.ts),
// frozen time and total time for 16 MiB, 256 MiB and 1 GiB of touched memory, beside the floor
// of this approach: a bare `criu dump` + `criu restore` of the same container to local disk
// (vzkit's own criu calls in vzctl suspend/resume, so the arguments are the same, timed by CRIU's
// own log: the last timestamp of dump.log and restore.log is its run time. A wrapper script around
// criu cannot be used: --restore-sibling makes the restored init the wrapper's child).
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { median, nowMs, run, sleep } from './lib.mjs';
import { REPO } from './sides.mjs';

const CRIU = '/opt/vzkit/criu/sbin/criu';

class Node {
  constructor(dir, node, idmapBase) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
    this.root = path.join(dir, 'root');
    this.node = node;
    this.configFile = path.join(dir, 'vzkit.yaml');
    fs.writeFileSync(this.configFile, `root: ${this.root}\nnode: ${node}\nidmap: {base: ${idmapBase}, count: 8}\nsysinfo_intercept: false\nstop_timeout: 10\n`);
    this.env = { ...process.env, VZKIT_CONFIG: this.configFile };
  }
  vzctl(args, extraEnv = {}) {
    return run(path.join(REPO, 'dist/vzctl'), args, { env: { ...this.env, ...extraEnv }, timeout: 300_000 });
  }
}

/** Two nodes, a namespace with its veth and sshd; close() removes all of it. */
function makeRig(tmp, log) {
  const R = 10 + Math.floor(Math.random() * 240);
  const tag = 'bm' + Math.random().toString(36).slice(2, 6);
  const rig = { R, ns: `${tag}ns`, hostIf: `${tag}h`, dest: `198.19.${R}.2`, dir: path.join(tmp, 'mig'), fences: [`198.18.${R}.0/24`, `198.19.${R}.0/24`] };
  rig.src = new Node(path.join(rig.dir, 'src'), `${tag}s`, 9000000);
  rig.dst = new Node(path.join(rig.dir, 'dst'), `${tag}d`, 9000000);
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
    'AllowTcpForwarding yes', 'MaxSessions 50', `SetEnv VZKIT_CONFIG=${rig.dst.configFile}`, ''].join('\n'));
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
    run('ip', ['netns', 'del', rig.ns], { allowFail: true, always: true });
    run('ip', ['link', 'del', rig.hostIf], { allowFail: true, always: true });
    for (const f of rig.fences) run('ip', ['route', 'del', 'unreachable', f], { allowFail: true, always: true });
    for (const n of [rig.src, rig.dst]) for (const c of fs.readdirSync('/sys/fs/cgroup')) fs.rmSync(`/sys/fs/cgroup/${c}/${n.node}`, { recursive: true, force: true });
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
  if (!fs.existsSync(CRIU) || spawnSync(CRIU, ['check']).status !== 0) throw new Error(`${CRIU} missing or criu check fails: sh native/setup.sh`);
  if (!fs.existsSync('/usr/sbin/sshd')) throw new Error('openssh-server is missing: sh native/setup.sh');
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
  if (!fs.existsSync(CRIU) || spawnSync(CRIU, ['check']).status !== 0) throw new Error(`${CRIU} missing or criu check fails: sh native/setup.sh`);
  if (!fs.existsSync('/usr/sbin/sshd')) throw new Error('openssh-server is missing: sh native/setup.sh');
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
