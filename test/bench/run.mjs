#!/usr/bin/env node
// vzkit vs LXC, side by side on the same busybox rootfs. Not part of `npm test`; see README.md.
// Usage: node test/bench/run.mjs [--quick] [--only fixed,start,stop,exec,fleet,memory,limits,disk,net,debian,migrate,migrate-image,migrate-debian,backup]
import fs from 'node:fs';
import net from 'node:net';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { cgroupMemory, hyperfine, median, memoryCgroupOf, memoryOf, nowMs, ppidOf, pool, rssPssOf, run, shQuiet, sleep, state, timeIt } from './lib.mjs';
import { LxcSide, REPO, VzSide } from './sides.mjs';
import { migrateDebianSection, migrateImageSection, migrateSection } from './migrate.mjs';

const SECTIONS = ['fixed', 'start', 'stop', 'exec', 'fleet', 'memory', 'limits', 'disk', 'net', 'debian', 'migrate', 'migrate-image', 'migrate-debian', 'backup'];
// Targets given for vzkit; the lead fills in more here. Keyed by row name.
const TARGETS = {
  'vzctl status vs node -e 0': '<= 1.3x',
  'vzlist (0 CTs) vs node -e 0': '<= 1.3x',
  // issue 7: frozen time within 1.5x of a bare criu dump + restore (and under 1 s for 256 MiB)
  'migrate --online 16 MiB: frozen time vs bare dump+restore': '<= 1.5x',
  'migrate --online 256 MiB: frozen time vs bare dump+restore': '<= 1.5x, < 1 s',
  'migrate --online 1024 MiB: frozen time vs bare dump+restore': '<= 1.5x',
  // issue 14: an image's frozen time does not grow with its size
  'migrate --online image 4 GiB: frozen time vs dir layout': '<= 1.2x',
  'migrate --online image 40 GiB: frozen time vs dir layout': '<= 1.2x',
  // issue 14: a stock Debian 12 VPS (default node config): frozen time within 1.5x of the bare
  // floor, under 1 s idle; the image layout's frozen time within 1.2x of the dir layout's
  'migrate --online Debian 12 idle, dir: frozen time vs bare dump+restore': '<= 1.5x, < 1 s',
  'migrate --online Debian 12 256 MiB, dir: frozen time vs bare dump+restore': '<= 1.5x',
  'migrate --online Debian 12 idle, image: frozen time vs bare dump+restore': '<= 1.5x, < 1 s',
  'migrate --online Debian 12 256 MiB, image: frozen time vs bare dump+restore': '<= 1.5x',
  'migrate --online Debian 12 idle: image frozen time vs dir': '<= 1.2x',
  'migrate --online Debian 12 256 MiB: image frozen time vs dir': '<= 1.2x',
};

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const onlyArg = argv.find((a) => a.startsWith('--only'));
const only = onlyArg ? (onlyArg.includes('=') ? onlyArg.split('=')[1] : argv[argv.indexOf(onlyArg) + 1] ?? '').split(',') : SECTIONS;
const bad = only.filter((s) => !SECTIONS.includes(s));
if (bad.length || argv.includes('--help')) {
  console.error(`usage: node test/bench/run.mjs [--quick] [--only ${SECTIONS.join(',')}]${bad.length ? `\nunknown section: ${bad}` : ''}`);
  process.exit(2);
}
const want = (s) => only.includes(s);
// cheap: fixed cost, exec, list. slow: start/stop, each run needs a stop/start in --prepare.
const P = quick
  ? { runs: 10, warmup: 2, slowRuns: 6, slowWarmup: 1, fleet: 10, rounds: 1, memCts: 10, debRuns: 3, debIdleMs: 3000 }
  : { runs: 30, warmup: 3, slowRuns: 20, slowWarmup: 2, fleet: 50, rounds: 3, memCts: 10, debRuns: 9, debIdleMs: 5000 };

const rows = [];
const failures = [];
const notes = [];
const log = (s) => console.error(`[bench] ${s}`);

/** One table row. unit: ms | s | KiB. peerLabel names the peer when it is not LXC. */
function row(op, vz, peer, { unit = 'ms', peerLabel, vzCmd, peerCmd } = {}) {
  const r = { op, unit, vzkit: vz, lxc: peer, ratio: vz / peer, target: TARGETS[op] ?? null, peerLabel, vzCmd, peerCmd };
  rows.push(r);
  log(`${op}: vzkit ${fmt(vz, unit)}, ${peerLabel ?? 'LXC'} ${fmt(peer, unit)}, ratio ${r.ratio.toFixed(2)}`);
}

/** hyperfine, retried once: on this shared machine a run is now and then killed from outside. */
function hf(command, opts) {
  try {
    return hyperfine(command, opts);
  } catch (e) {
    if (state.interrupted) throw e;
    const why = e.message.slice(e.message.indexOf(' exited ') + 8).replace(/\s+/g, ' ').slice(-400);
    notes.push(`retried once: ${command} (exited ${why})`);
    log(`retrying ${command}: ${why}`);
    return hyperfine(command, opts);
  }
}

async function section(name, fn) {
  await sleep(0); // lets a pending Ctrl-C handler run first
  if (state.interrupted) return;
  log(`--- ${name}`);
  try {
    await fn();
  } catch (e) {
    failures.push({ section: name, error: String(e.message ?? e) });
    log(`${name} FAILED: ${e.message ?? e}`);
  }
}

function checkTools() {
  for (const t of ['hyperfine', 'lxc-start', 'cp']) {
    if (run('sh', ['-c', `command -v ${t}`], { allowFail: true }).code !== 0) {
      console.error(`${t} is missing: apt-get install -y lxc hyperfine`);
      process.exit(2);
    }
  }
  if (!fs.existsSync(path.join(REPO, 'dist', 'vzctl'))) {
    console.error('dist/vzctl is missing: sh scripts/setup.sh --build-only');
    process.exit(2);
  }
  if (process.getuid() !== 0) {
    console.error('run as root');
    process.exit(2);
  }
}

checkTools();
// Others rebuild dist/ and native/ on this machine: notice when that happens under a run.
const BUILD_FILES = ['dist/vzctl.bundle.cjs', 'dist/vzlist.bundle.cjs', 'native/build/ctspawn'].map((f) => path.join(REPO, f));
const buildStamp = () => BUILD_FILES.map((f) => fs.statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0).join(',');
const stampAtStart = buildStamp();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vzbench-'));
fs.chmodSync(tmp, 0o711); // container root uids must traverse it
const vz = new VzSide(tmp);
const lx = new LxcSide(tmp, vz.node);
// Debian: a node of its own whose template_cache is the tests' shared one (nothing is built), with
// a uid pool apart from the busybox node's.
const DEB_CACHE = '/var/cache/vzkit-test/templates';
const vzd = want('debian') ? new VzSide(path.join(tmp, 'deb'), { idmapBase: 8000000, idmapCount: 8, templateCache: DEB_CACHE }) : null;
const hfOpts = { env: vz.env, jsonDir: tmp };
const cheap = { ...hfOpts, runs: P.runs, warmup: P.warmup };
const slow = { ...hfOpts, runs: P.slowRuns, warmup: P.slowWarmup };
const VZCTL = vz.vzctlBin;
const CT = 101;
const LX = lx.name(0);
let nodeMs; // `node -e 0`, the floor of every vzctl command

async function fixedAndNode() {
  nodeMs = hf(`${process.execPath} -e 0`, cheap).median;
  if (!want('fixed')) return;
  const list0 = hf(vz.vzlistBin, cheap).median;
  row('vzlist (0 CTs) vs node -e 0', list0, nodeMs, { peerLabel: 'node -e 0' });
}

function createMain() {
  vz.create(CT);
  lx.add(LX, vz.privateDir(CT), vz.uidBases().get(CT));
}

async function startSection() {
  const stopVz = shQuiet(`${VZCTL} stop ${CT} --fast -q`);
  const v = hf(`${VZCTL} start ${CT} -q`, { ...slow, prepare: stopVz, cleanup: stopVz });
  const stopLx = shQuiet(lx.cmd('stop', LX, '-k'));
  const lxStart = `${lx.cmd('start', LX, '-d')} && ${lx.cmd('wait', LX, '-s', 'RUNNING')}`;
  const l = hf(lxStart, { ...slow, shell: '/bin/sh', prepare: stopLx, cleanup: stopLx });
  row('start', v.median, l.median, { vzCmd: 'vzctl start', peerCmd: 'lxc-start -d && lxc-wait -s RUNNING' });
  row('start, container part (vzctl start - node -e 0)', v.median - nodeMs, l.median);
  // What the issue calls the container part: from spawning ctspawn to init running, as vzctl
  // itself measures it (spawn_ms in `vzctl --json start`).
  const spawnMs = [];
  for (let i = 0; i < P.slowRuns; i++) {
    run(VZCTL, ['stop', String(CT), '--fast', '-q'], { env: vz.env, allowFail: true });
    const out = run(VZCTL, ['--json', 'start', String(CT)], { env: vz.env });
    spawnMs.push(JSON.parse(out.stdout).spawn_ms);
  }
  run(VZCTL, ['stop', String(CT), '--fast', '-q'], { env: vz.env, allowFail: true });
  row('start, helper spawn -> init running (spawn_ms)', median(spawnMs), l.median, { vzCmd: 'vzctl --json start: spawn_ms', peerCmd: 'lxc-start -d && lxc-wait' });
}

async function stopSection() {
  const v = hf(`${VZCTL} stop ${CT} --fast -q`, { ...slow, prepare: `${VZCTL} start ${CT} -q` });
  const l = hf(lx.cmd('stop', LX, '-k'), { ...slow, prepare: lx.cmd('start', LX, '-d') });
  row('stop --fast', v.median, l.median, { vzCmd: 'vzctl stop --fast', peerCmd: 'lxc-stop -k' });
}

async function execAndStatus() {
  vz.vzctl('start', String(CT), '-q');
  lx.start(LX);
  try {
    if (want('exec')) {
      const v = hf(`${VZCTL} exec ${CT} true`, cheap);
      const l = hf(lx.cmd('attach', LX, '--', 'true'), cheap);
      row('exec true', v.median, l.median, { vzCmd: 'vzctl exec N true', peerCmd: 'lxc-attach -- true' });
    }
    if (want('fixed')) {
      const v = hf(`${VZCTL} status ${CT}`, cheap);
      row('vzctl status vs node -e 0', v.median, nodeMs, { peerLabel: 'node -e 0' });
      const l = hf(lx.cmd('info', LX, '-s'), cheap);
      row('vzctl status vs lxc-info -s', v.median, l.median);
    }
  } finally {
    vz.vzctl('stop', String(CT), '--fast', '-q');
    lx.lxc('stop', LX, '-k');
  }
}

/** n containers of each kind: timed starts (sequential, parallel), the list, memory. */
async function fleetSection() {
  const n = want('fleet') ? P.fleet : P.memCts;
  const ids = Array.from({ length: n }, (_, i) => 201 + i);
  const names = ids.map((_, i) => lx.name(i + 1));
  log(`creating ${n} vzkit containers and ${n} LXC copies`);
  for (const id of ids) vz.create(id);
  const bases = vz.uidBases();
  ids.forEach((id, i) => lx.add(names[i], vz.privateDir(id), bases.get(id)));

  const stopAll = async () => {
    const a = await pool(ids, 10, (id) => vz.vzctlAsync('stop', String(id), '--fast', '-q'));
    const b = await pool(names, 10, (nm) => lx.lxcAsync('stop', nm, '-k'));
    const bad = [...a, ...b].filter((r) => r.code !== 0);
    if (bad.length) throw new Error(`${bad.length} stops failed: ${bad[0].out.trim()}`);
  };
  const parallel = async (fn, items) => {
    const res = await Promise.all(items.map(fn));
    const bad = res.filter((r) => r.code !== 0);
    if (bad.length) throw new Error(`${bad.length} of ${items.length} parallel starts failed: ${bad[0].out.trim()}`);
  };
  const seq = { vz: [], lx: [] };
  const par = { vz: [], lx: [] };
  for (let round = 0; round < P.rounds; round++) {
    seq.vz.push(await timeIt(async () => ids.forEach((id) => vz.vzctl('start', String(id), '-q'))));
    seq.lx.push(await timeIt(async () => names.forEach((nm) => lx.start(nm))));
    if (round === 0) {
      await sleep(1000); // let the inits settle before measuring
      if (want('fleet')) {
        const v = hf(vz.vzlistBin, cheap);
        const l = hf(lx.cmd('ls', null, '-f'), cheap);
        row(`vzlist vs lxc-ls -f, ${n} running`, v.median, l.median);
      }
      if (want('memory')) memory(ids.slice(0, P.memCts), names.slice(0, P.memCts));
    }
    await stopAll();
    if (!want('fleet')) break;
    par.vz.push(await timeIt(() => parallel((id) => vz.vzctlAsync('start', String(id), '-q'), ids)));
    par.lx.push(await timeIt(() => parallel((nm) => lx.lxcAsync('start', nm, '-d'), names)));
    await stopAll();
  }
  if (want('fleet')) {
    row(`${n} starts one after another`, median(seq.vz) / 1000, median(seq.lx) / 1000, { unit: 's' });
    row(`${n} starts in parallel`, median(par.vz) / 1000, median(par.lx) / 1000, { unit: 's' });
  }
}

function memory(ids, names) {
  const vzM = ids.map((id) => {
    const [mon, init] = vz.pids(id);
    return memoryOf(init, mon);
  });
  const lxM = names.map((nm) => {
    const init = lx.initPid(nm);
    const mon = ppidOf(init);
    const cmd = fs.readFileSync(`/proc/${mon}/cmdline`, 'utf8');
    if (!cmd.startsWith('[lxc monitor]')) throw new Error(`parent of ${nm}'s init is not its monitor: ${cmd}`);
    return memoryOf(init, mon);
  });
  const kib = (list, f) => median(list.map(f)) / 1024;
  const k = `(median of ${ids.length})`;
  row(`memory cgroup usage per CT ${k}`, kib(vzM, (m) => m.usage), kib(lxM, (m) => m.usage), { unit: 'KiB' });
  row('  of it page cache (memory.stat cache)', kib(vzM, (m) => m.cache), kib(lxM, (m) => m.cache), { unit: 'KiB' });
  row('monitor RSS (ctspawn / lxc monitor)', kib(vzM, (m) => m.monitorRss), kib(lxM, (m) => m.monitorRss), { unit: 'KiB' });
  const total = (m) => m.usage + m.monitorRss;
  row('memory cgroup + monitor RSS', kib(vzM, total), kib(lxM, total), { unit: 'KiB' });
}

// ---- cleanup, also on Ctrl-C

const RESULTS = path.join(REPO, 'test', 'bench', 'results');

/** After a failure: vzkit's per-container logs to results/last-logs/ for a look. */
function keepLogs() {
  const dst = path.join(RESULTS, 'last-logs');
  fs.rmSync(dst, { recursive: true, force: true });
  try {
    fs.cpSync(path.join(vz.root, 'log'), dst, { recursive: true });
    log(`kept vzkit's logs in ${path.relative(process.cwd(), dst)}`);
  } catch {}
}

let cleaning = null;
function cleanup() {
  cleaning ??= (async () => {
    log('cleaning up');
    if (notes.length || failures.length) keepLogs();
    await lx.cleanup(log).catch((e) => log(`LXC cleanup: ${e.message}`));
    await vz.cleanup(log).catch((e) => log(`vzkit cleanup: ${e.message}`));
    if (vzd) await vzd.cleanup(log).catch((e) => log(`vzkit (Debian node) cleanup: ${e.message}`));
    for (const f of NET_CLEANUP) f(); // bridges, after the containers that used them
    fs.rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (state.interrupted) return log('still cleaning up, please wait');
    state.interrupted = true;
    log(`${sig}: stopping after the current command`);
  });
}

// ---- report

function fmt(x, unit) {
  if (x == null || !Number.isFinite(x)) return '-';
  if (unit === 'ms') return `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`;
  if (unit === 'KiB') return `${Math.round(x)} KiB`;
  return `${x.toFixed(2)} ${unit}`;
}

function report() {
  if (buildStamp() !== stampAtStart) notes.push('dist/ or native/build/ctspawn was rebuilt during this run: the figures mix builds');
  const lines = ['| operation | vzkit median | LXC median | ratio | target |', '|---|---|---|---|---|'];
  for (const r of rows) {
    const peer = fmt(r.lxc, r.unit) + (r.peerLabel ? ` (${r.peerLabel})` : '');
    lines.push(`| ${r.op} | ${fmt(r.vzkit, r.unit)} | ${peer} | ${Number.isFinite(r.ratio) ? r.ratio.toFixed(2) + 'x' : '-'} | ${r.target ?? '-'} |`);
  }
  console.log(lines.join('\n'));
  for (const n of notes) console.log(`\nnote: ${n}`);
  for (const f of failures) console.log(`\nFAILED ${f.section}: ${f.error}`);
  const out = {
    date: new Date().toISOString(),
    commit: run('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'], { allowFail: true, always: true }).stdout.trim(),
    quick,
    only,
    interrupted: state.interrupted,
    params: P,
    host: {
      kernel: os.release(),
      cpus: os.cpus().length,
      node: process.version,
      lxc: run('/usr/bin/lxc-start', ['--version'], { allowFail: true, always: true }).stdout.trim(),
      hyperfine: run('hyperfine', ['--version'], { allowFail: true, always: true }).stdout.trim(),
    },
    lxcMode: 'unprivileged, lxc.idmap = the vzkit container\'s uid_base, rootfs = cp -a of its private area',
    rows,
    notes,
    failures,
  };
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, 'latest.json'), JSON.stringify(out, null, 2) + '\n');
  log(`wrote ${path.relative(process.cwd(), path.join(RESULTS, 'latest.json'))}`);
}

/**
 * Issue 3: start with every limit set vs without (the cost of applying them), and LXC given the
 * same limits through its lxc.cgroup.* keys.
 */
const LIMIT_FLAGS = ['--ram', '256M', '--swap', '128M', '--cpus', '1', '--cpulimit', '50', '--cpuunits', '500', '--numproc', '200', '--iolimit', '10M', '--iopslimit', '1000', '--ioprio', '3'];
async function limitsSection() {
  const LCT = 102;
  vz.create(LCT);
  vz.vzctl('set', String(LCT), ...LIMIT_FLAGS, '--save', '-q');
  const dev = fs.statSync(vz.privateDir(LCT)).dev;
  const mm = `${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}`;
  const LLX = lx.name(1);
  lx.add(LLX, vz.privateDir(LCT), vz.uidBases().get(LCT), [
    'lxc.cgroup.memory.limit_in_bytes = 268435456',
    'lxc.cgroup.memory.memsw.limit_in_bytes = 402653184',
    'lxc.cgroup.cpuset.cpus = 0',
    'lxc.cgroup.cpu.cfs_quota_us = 50000',
    'lxc.cgroup.cpu.cfs_period_us = 100000',
    'lxc.cgroup.cpu.shares = 512',
    'lxc.cgroup.pids.max = 200',
    `lxc.cgroup.blkio.throttle.read_bps_device = ${mm} 10485760`,
    `lxc.cgroup.blkio.throttle.write_bps_device = ${mm} 10485760`,
    `lxc.cgroup.blkio.throttle.read_iops_device = ${mm} 1000`,
    `lxc.cgroup.blkio.throttle.write_iops_device = ${mm} 1000`,
  ]);
  const stop = (ct) => shQuiet(`${VZCTL} stop ${ct} --fast -q`);
  const plain = hf(`${VZCTL} start ${CT} -q`, { ...slow, prepare: stop(CT), cleanup: stop(CT) });
  const limited = hf(`${VZCTL} start ${LCT} -q`, { ...slow, prepare: stop(LCT), cleanup: stop(LCT) });
  const stopLx = shQuiet(lx.cmd('stop', LLX, '-k'));
  const l = hf(`${lx.cmd('start', LLX, '-d')} && ${lx.cmd('wait', LLX, '-s', 'RUNNING')}`, { ...slow, shell: '/bin/sh', prepare: stopLx, cleanup: stopLx });
  row('start with all limits vs without (vzkit)', limited.median, plain.median, { peerLabel: 'vzctl start, no limits', vzCmd: 'vzctl start (limits)', peerCmd: 'vzctl start' });
  row('start with the same limits: vzkit vs LXC', limited.median, l.median, { vzCmd: 'vzctl start (limits)', peerCmd: 'lxc-start -d && lxc-wait (lxc.cgroup.* limits)' });
}

/**
 * Issue 4: create time per layout, and sequential write/read throughput (O_DIRECT, 1 GiB)
 * inside a container of each layout and inside an LXC container on a directory, each as a ratio
 * to the same dd on the host directly (the same file system).
 */
/** MiB/s from busybox `time`'s "real 0m 0.22s" (Debian's busybox dd prints no rate). */
function ddMiBs(out, mib) {
  const m = /real\s+(\d+)m\s*([\d.]+)s/.exec(out);
  return m ? mib / (Number(m[1]) * 60 + Number(m[2])) : NaN;
}

async function diskSection() {
  const mk = (id, layout) => `${VZCTL} create ${id} --ostemplate busybox -q${layout === 'image' ? ' --layout image --diskspace 2G' : ''}`;
  const rm = (id) => shQuiet(`${VZCTL} destroy ${id} -q`);
  for (const layout of ['dir', 'image']) {
    const id = layout === 'dir' ? 130 : 131;
    const c = hf(mk(id, layout), { ...slow, prepare: rm(id), cleanup: rm(id) });
    row(`create, ${layout} layout`, c.median, nodeMs, { peerLabel: 'node -e 0', vzCmd: mk('N', layout), peerCmd: 'node -e 0' });
  }
  const size = quick ? 64 : 1024;
  // The same busybox binary everywhere (host, vzkit, LXC): `busybox time dd`, timed inside.
  const write = (f) => ['busybox', 'time', 'dd', 'if=/dev/zero', `of=${f}`, 'bs=1M', `count=${size}`, 'oflag=direct'];
  const read = (f) => ['busybox', 'time', 'dd', `if=${f}`, 'of=/dev/null', 'bs=1M', 'iflag=direct'];
  const hostFile = path.join(tmp, 'host.bin');
  const host = { w: ddMiBs(run(write(hostFile)[0], write(hostFile).slice(1)).stderr, size), r: ddMiBs(run('busybox', read(hostFile).slice(1)).stderr, size) };
  fs.rmSync(hostFile);
  for (const layout of ['dir', 'image']) {
    const id = layout === 'dir' ? 132 : 133;
    run(VZCTL, ['create', String(id), '--ostemplate', 'busybox', '--config', 'unlimited', '-q', ...(layout === 'image' ? ['--layout', 'image', '--diskspace', '2G'] : [])], { env: vz.env });
    vz.created.add(id);
    run(VZCTL, ['start', String(id), '-q'], { env: vz.env });
    const w = ddMiBs(run(VZCTL, ['exec', String(id), ...write('/root/t.bin')], { env: vz.env }).stderr, size);
    const r = ddMiBs(run(VZCTL, ['exec', String(id), ...read('/root/t.bin')], { env: vz.env }).stderr, size);
    run(VZCTL, ['stop', String(id), '--fast', '-q'], { env: vz.env });
    row(`seq write ${size} MiB O_DIRECT, ${layout} layout (MiB/s)`, w, host.w, { unit: 'MiB/s', peerLabel: 'host', vzCmd: 'dd in the CT', peerCmd: 'dd on the host' });
    row(`seq read ${size} MiB O_DIRECT, ${layout} layout (MiB/s)`, r, host.r, { unit: 'MiB/s', peerLabel: 'host', vzCmd: 'dd in the CT', peerCmd: 'dd on the host' });
  }
  const LDX = lx.name(2);
  vz.create(134);
  lx.add(LDX, vz.privateDir(134), vz.uidBases().get(134));
  lx.start(LDX);
  const lw = ddMiBs(lx.lxc('attach', LDX, '--', ...write('/root/t.bin')).stderr, size);
  const lr = ddMiBs(lx.lxc('attach', LDX, '--', ...read('/root/t.bin')).stderr, size);
  lx.lxc('stop', LDX, '-k');
  row(`seq write ${size} MiB O_DIRECT, LXC on a dir (MiB/s)`, lw, host.w, { unit: 'MiB/s', peerLabel: 'host', vzCmd: 'lxc-attach dd', peerCmd: 'dd on the host' });
  row(`seq read ${size} MiB O_DIRECT, LXC on a dir (MiB/s)`, lr, host.r, { unit: 'MiB/s', peerLabel: 'host', vzCmd: 'lxc-attach dd', peerCmd: 'dd on the host' });
}

/**
 * Issue 5: TCP throughput from the host into a container (routed, bridged, and LXC on a bridge)
 * against the host's loopback, and start time with networking against without. The receiving
 * end is the same small Node sink everywhere, run in the container's network namespace
 * (nsenter --net), so only the network path differs. Addresses: 198.18.250.0/24 and up.
 */
const NET_CLEANUP = [];
const SINK = `const net = require('net');
net.createServer((s) => { s.on('data', () => {}); s.on('end', () => s.end()); }).listen(+process.argv[2], process.argv[3], () => console.log('ready'));`;

function startSink(port, host, netnsPid) {
  const file = path.join(tmp, 'sink.cjs');
  fs.writeFileSync(file, SINK);
  const argv = netnsPid ? ['nsenter', [`--net=/proc/${netnsPid}/ns/net`, process.execPath, file, String(port), host]] : [process.execPath, [file, String(port), host]];
  const child = spawn(argv[0], argv[1], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`sink exited ${code}`)));
  });
}

/** MiB/s of one connection that sends `mib` MiB and waits for the sink to close its side. */
function sendMiB(host, port, mib) {
  return new Promise((resolve, reject) => {
    const buf = Buffer.alloc(1 << 20);
    const t0 = process.hrtime.bigint();
    const s = net.connect(port, host);
    let n = 0;
    s.on('connect', () => {
      const w = () => {
        while (n < mib) {
          n++;
          if (!s.write(buf)) return s.once('drain', w);
        }
        s.end();
      };
      w();
    });
    s.resume();
    s.on('close', (hadError) => (hadError ? reject(new Error('connection error')) : resolve(mib / (Number(process.hrtime.bigint() - t0) / 1e9))));
    s.on('error', reject);
  });
}

async function throughput(host, netnsPid) {
  const sink = await startSink(5201, netnsPid ? '0.0.0.0' : host, netnsPid);
  try {
    const mib = quick ? 128 : 512;
    await sendMiB(host, 5201, 64); // warm-up
    const res = [];
    for (let i = 0; i < (quick ? 3 : 7); i++) res.push(await sendMiB(host, 5201, mib));
    return median(res);
  } finally {
    sink.kill('SIGKILL');
  }
}

async function netSection() {
  const vzBr = `${vz.node}b`;
  const lxBr = `${vz.node}l`;
  const ipb = (cmds) => run('ip', ['-batch', '-'], { input: cmds.join('\n') + '\n' });
  for (const [br, net3] of [[vzBr, 251], [lxBr, 252]]) {
    NET_CLEANUP.push(() => run('ip', ['link', 'del', br], { allowFail: true, always: true }));
    ipb([`link add ${br} type bridge forward_delay 0`, `addr add 198.18.${net3}.1/24 dev ${br}`, `link set ${br} up`]);
  }
  const [R, B, P0] = [140, 141, 143];
  for (const id of [R, B, P0]) vz.create(id);
  vz.vzctl('set', String(R), '--ipadd', '198.18.250.2', '--save', '-q');
  vz.vzctl('set', String(B), '--netif_add', `eth0,,,,${vzBr}`, '--ifname', 'eth0', '--ipadd', '198.18.251.2/24', '--gw', '198.18.251.1', '--save', '-q');
  const bases = vz.uidBases();
  const [LB, LP] = [lx.name(5), lx.name(6)];
  lx.add(LB, vz.privateDir(P0), bases.get(P0), [
    'lxc.net.0.type = veth', `lxc.net.0.link = ${lxBr}`, 'lxc.net.0.flags = up', 'lxc.net.0.name = eth0',
    'lxc.net.0.hwaddr = 02:00:c6:12:fc:02', 'lxc.net.0.ipv4.address = 198.18.252.2/24', 'lxc.net.0.ipv4.gateway = 198.18.252.1',
  ]);
  lx.add(LP, vz.privateDir(P0), bases.get(P0));

  const stopVz = (ct) => shQuiet(`${VZCTL} stop ${ct} --fast -q`);
  const stopLx = (nm) => shQuiet(lx.cmd('stop', nm, '-k'));
  const startVz = (ct) => hf(`${VZCTL} start ${ct} -q`, { ...slow, prepare: stopVz(ct), cleanup: stopVz(ct) }).median;
  const startLx = (nm) => hf(`${lx.cmd('start', nm, '-d')} && ${lx.cmd('wait', nm, '-s', 'RUNNING')}`, { ...slow, shell: '/bin/sh', prepare: stopLx(nm), cleanup: stopLx(nm) }).median;
  const [vR, vB, vP] = [startVz(R), startVz(B), startVz(P0)];
  const [lB, lP] = [startLx(LB), startLx(LP)];
  row('start with routed networking vs without (vzkit)', vR, vP, { peerLabel: 'vzctl start, no network', vzCmd: 'vzctl start (--ipadd)', peerCmd: 'vzctl start' });
  row('start with a veth on a bridge vs without (vzkit)', vB, vP, { peerLabel: 'vzctl start, no network', vzCmd: 'vzctl start (--netif_add)', peerCmd: 'vzctl start' });
  row('start with a veth on a bridge vs without (LXC)', lB, lP, { peerLabel: 'lxc-start, no network', vzCmd: 'lxc-start (veth)', peerCmd: 'lxc-start (empty)' });
  row('start with a veth on a bridge: vzkit vs LXC', vB, lB, { vzCmd: 'vzctl start (--netif_add)', peerCmd: 'lxc-start -d && lxc-wait (veth on a bridge)' });

  vz.vzctl('start', String(R), '-q');
  vz.vzctl('start', String(B), '-q');
  lx.start(LB);
  try {
    const loop = await throughput('127.0.0.1');
    const tR = await throughput('198.18.250.2', vz.pids(R)[1]);
    const tB = await throughput('198.18.251.2', vz.pids(B)[1]);
    const tL = await throughput('198.18.252.2', lx.initPid(LB));
    const u = { unit: 'MiB/s', peerLabel: 'host loopback', peerCmd: 'TCP to 127.0.0.1' };
    row('TCP host -> CT, routed (MiB/s)', tR, loop, { ...u, vzCmd: 'TCP to the routed address' });
    row('TCP host -> CT, veth on a bridge (MiB/s)', tB, loop, { ...u, vzCmd: 'TCP to the bridged address' });
    row('TCP host -> LXC CT, veth on a bridge (MiB/s)', tL, loop, { ...u, vzCmd: 'TCP to the LXC container' });
    row('TCP host -> CT: vzkit routed vs LXC bridged (MiB/s)', tR, tL, { unit: 'MiB/s', vzCmd: 'routed', peerCmd: 'LXC veth on a bridge' });
    row('TCP host -> CT: vzkit bridged vs LXC bridged (MiB/s)', tB, tL, { unit: 'MiB/s', vzCmd: 'bridged', peerCmd: 'LXC veth on a bridge' });
  } finally {
    vz.vzctl('stop', String(R), '--fast', '-q');
    vz.vzctl('stop', String(B), '--fast', '-q');
    lx.lxc('stop', LB, '-k');
  }
}

/**
 * Issue 6: Debian 12 with systemd, vzkit vs unprivileged LXC on the same rootfs (a cp -a of the
 * vzkit container's private area, made from the shared template cache before its first start, with
 * the same uid mapping). Per round, for each side: start + wait until `systemctl is-system-running
 * --wait` answers (boot), idle, memory, clean stop. Round 0 is a warm-up (first boot makes the SSH
 * host keys) and is not counted. Both sides wait the same way: one exec/attach of WAIT_STATE, which
 * retries until systemd's bus answers (right after start it does not exist yet).
 */
const WAIT_STATE = 'i=0; while :; do s=$(systemctl is-system-running --wait 2>/dev/null); case "$s" in ""|offline|unknown) i=$((i+1)); [ $i -gt 6000 ] && { echo timeout; exit 1; }; sleep 0.01;; *) echo "$s"; exit 0;; esac; done';

async function debianSection() {
  if (!fs.existsSync(path.join(DEB_CACHE, 'debian-12', '.vzkit-complete'))) {
    throw new Error(`no Debian 12 cache in ${DEB_CACHE}: build it with vzctl template build debian-12 (template_cache: ${DEB_CACHE})`);
  }
  // A cache from another version of the template would be rebuilt by create: say so, do not build.
  const listed = run(vzd.vzctlBin, ['template', 'list'], { env: vzd.env }).stdout;
  if (!/^debian-12\s+yes\b/m.test(listed)) throw new Error(`debian-12 is not cached (or stale) in ${DEB_CACHE}:\n${listed}`);
  const DCT = 150;
  const DLX = lx.name(9);
  const DLN = lx.name(8); // the same without lxcfs's post-stop hook (a bare `sleep 0.5s`)
  const env = { env: vzd.env, timeout: 180_000 };
  const t0 = nowMs();
  vzd.create(DCT, 'debian-12');
  const createMs = nowMs() - t0;
  const base = vzd.uidBases().get(DCT);
  lx.add(DLX, vzd.privateDir(DCT), base, [], { debian: true });
  lx.add(DLN, vzd.privateDir(DCT), base, ['lxc.hook.post-stop ='], { debian: true }); // empty: clears the included hook
  log(`created CT ${DCT} (${Math.round(createMs)} ms) and LXC ${DLX}, ${DLN}`);
  const lxcSide = (name) => ({
    start: () => lx.lxc('start', name, '-d'),
    wait: () => lx.lxc('attach', name, '--', 'sh', '-c', WAIT_STATE),
    true: () => lx.lxc('attach', name, '--', 'true'),
    stop: () => lx.lxc('stop', name),
    cgroup: () => {
      const init = lx.initPid(name);
      const mon = ppidOf(init);
      const cmd = fs.readFileSync(`/proc/${mon}/cmdline`, 'utf8');
      if (!cmd.startsWith('[lxc monitor]')) throw new Error(`parent of ${name}'s init is not its monitor: ${cmd}`);
      // Its payload cgroup as a whole: init itself sits in init.scope below it.
      const cg = '/' + memoryCgroupOf(init).split('/')[1];
      if (cg !== `/lxc.payload.${name}`) throw new Error(`${name}'s init is in memory cgroup ${memoryCgroupOf(init)}`);
      return { mon, cg };
    },
  });

  const sides = {
    vz: {
      start: () => run(vzd.vzctlBin, ['start', String(DCT), '-q'], env),
      wait: () => run(vzd.vzctlBin, ['exec', String(DCT), '--', 'sh', '-c', WAIT_STATE], env),
      true: () => run(vzd.vzctlBin, ['exec', String(DCT), 'true'], env),
      stop: () => run(vzd.vzctlBin, ['stop', String(DCT), '-q'], env),
      cgroup: () => {
        const [mon, init] = vzd.pids(DCT);
        const cg = `/${vzd.node}/${DCT}`;
        const own = memoryCgroupOf(init);
        if (own !== cg && !own.startsWith(cg + '/')) throw new Error(`CT ${DCT}'s init is in memory cgroup ${own}, not under ${cg}`);
        return { mon, cg };
      },
    },
    lx: lxcSide(DLX),
    lxn: lxcSide(DLN),
  };
  const res = Object.fromEntries(Object.keys(sides).map((k) => [k, { boot: [], startCmd: [], stop: [], states: [], mem: [], exec: [] }]));
  for (let round = 0; round <= P.debRuns; round++) {
    for (const k of Object.keys(sides)) {
      const side = sides[k];
      const r = res[k];
      const a = nowMs();
      side.start();
      const b = nowMs();
      const st = side.wait().stdout.trim();
      const c = nowMs();
      await sleep(P.debIdleMs);
      const { mon, cg } = side.cgroup();
      const m = { ...cgroupMemory(path.join('/sys/fs/cgroup/memory', cg)), monitor: rssPssOf(mon) };
      const x = nowMs();
      side.true(); // for scale: what one exec/attach itself costs, the waiting one included
      const execMs = nowMs() - x;
      const d = nowMs();
      side.stop();
      const e = nowMs();
      log(`${k} round ${round}${round ? '' : ' (warm-up)'}: ${st} after ${Math.round(c - a)} ms (start command ${Math.round(b - a)} ms), exec true ${Math.round(execMs)} ms, stop ${Math.round(e - d)} ms, cgroup ${(m.usage / 1048576).toFixed(1)} MiB, monitor PSS ${(m.monitor.pss / 1024).toFixed(0)} KiB`);
      if (round === 0) continue;
      r.boot.push(c - a);
      r.startCmd.push(b - a);
      r.stop.push(e - d);
      r.states.push(st);
      r.mem.push(m);
      r.exec.push(execMs);
    }
  }
  const count = (xs) => Object.entries(xs.reduce((o, x) => ((o[x] = (o[x] ?? 0) + 1), o), {})).map(([s, n]) => `${s} x${n}`).join(', ');
  const n = P.debRuns;
  notes.push(`debian: is-system-running answered: vzkit ${count(res.vz.states)}; LXC ${count(res.lx.states)}, LXC without the post-stop hook ${count(res.lxn.states)} (${n} rounds after one warm-up); vzctl create debian-12 took ${Math.round(createMs)} ms`);
  const dr = { vzCmd: `vzctl start + vzctl exec -- sh -c WAIT_STATE`, peerCmd: 'lxc-start -d + lxc-attach -- sh -c WAIT_STATE' };
  row(`Debian 12: start -> is-system-running answers (${res.vz.states[0]} / ${res.lx.states[0]})`, median(res.vz.boot), median(res.lx.boot), dr);
  row('  of it the start command (vzctl start / lxc-start -d)', median(res.vz.startCmd), median(res.lx.startCmd), { vzCmd: 'vzctl start', peerCmd: 'lxc-start -d' });
  const after = (k) => median(res[k].boot.map((x, i) => x - res[k].startCmd[i]));
  row('  of it the rest (start returned -> state answered)', after('vz'), after('lx'), { vzCmd: 'vzctl exec -- sh -c WAIT_STATE', peerCmd: 'lxc-attach -- sh -c WAIT_STATE' });
  row('  for scale: one exec of `true` in the booted CT', median(res.vz.exec), median(res.lx.exec), { vzCmd: 'vzctl exec N true', peerCmd: 'lxc-attach -- true' });
  row('Debian 12: clean stop', median(res.vz.stop), median(res.lx.stop), { vzCmd: 'vzctl stop (SIGRTMIN+3)', peerCmd: 'lxc-stop (SIGRTMIN+3)' });
  row('Debian 12: clean stop vs LXC without lxcfs\'s post-stop hook', median(res.vz.stop), median(res.lxn.stop), { vzCmd: 'vzctl stop', peerCmd: 'lxc-stop, lxc.hook.post-stop cleared' });
  const kib = (k, f) => median(res[k].mem.map(f)) / 1024;
  const mrow = (op, f) => row(op, kib('vz', f), kib('lx', f), { unit: 'KiB' });
  const idle = `${P.debIdleMs / 1000} s idle`;
  mrow(`Debian 12 memory cgroup usage (${idle})`, (m) => m.usage);
  mrow('  of it page cache (total_cache)', (m) => m.cache);
  mrow('  of it anon (total_rss)', (m) => m.rss);
  mrow('Debian 12 monitor RSS (ctspawn / lxc monitor)', (m) => m.monitor.rss);
  mrow('Debian 12 monitor PSS', (m) => m.monitor.pss);
  mrow('Debian 12 memory cgroup + monitor PSS', (m) => m.usage + m.monitor.pss);
  mrow('Debian 12 memory cgroup + monitor RSS', (m) => m.usage + m.monitor.rss);
}

/**
 * Issue 8: vzdump's throughput against `tar --numeric-owner | zstd` of the same tree (the floor:
 * the same tools without vzkit's work around them), in stop and suspend mode, and how long
 * suspend mode keeps the container frozen against how long stop mode keeps it down.
 * The tree: the busybox root plus a copy of the host's /usr/lib/python3 (many small files,
 * compressible) and random data (incompressible).
 */
async function backupSection() {
  const BCT = 140;
  const VZDUMP = path.join(REPO, 'dist', 'vzdump');
  vz.create(BCT);
  run(VZCTL, ['start', String(BCT), '-q'], { env: vz.env });
  const root = path.join(vz.root, 'root', String(BCT));
  const base = vz.uidBases().get(BCT);
  const pyLib = fs.readdirSync('/usr/lib').filter((d) => /^python3(\.\d+)?$/.test(d)).map((d) => `/usr/lib/${d}`)[0];
  if (pyLib) run('cp', ['-a', pyLib, path.join(root, 'pylib')]);
  const rnd = quick ? 16 : 128;
  run('dd', ['if=/dev/urandom', `of=${path.join(root, 'random.bin')}`, 'bs=1M', `count=${rnd}`, 'status=none']);
  run('chown', ['-R', `${base}:${base}`, ...(pyLib ? [path.join(root, 'pylib')] : []), path.join(root, 'random.bin')]);
  const treeMiB = Number(run('du', ['-sbx', '--apparent-size', root]).stdout.split(/\s/)[0]) / 1048576;
  const dd = path.join(tmp, 'dumps');
  fs.mkdirSync(dd, { recursive: true });
  const clear = `sh -c 'rm -rf ${dd}/* ${dd}/.vzdump* ${tmp}/peer.tar.zst; sleep 1'`;
  const runs = quick ? 3 : 7;
  const opts = { ...hfOpts, runs, warmup: 1, prepare: clear };
  const peerCmd = `sh -c 'tar --numeric-owner --xattrs --acls --sparse -cf - -C ${root} . | zstd -q -T0 -3 -c > ${tmp}/peer.tar.zst'`;
  const peer = hf(peerCmd, { ...opts, shell: 'default' }).median;
  for (const mode of ['stop', 'suspend']) {
    const cmd = `${VZDUMP} --mode ${mode} --dumpdir ${dd} -q ${BCT}`;
    const t = hf(cmd, opts).median;
    row(`vzdump --mode ${mode}, ${treeMiB.toFixed(0)} MiB tree (MiB/s)`, treeMiB / (t / 1000), treeMiB / (peer / 1000), {
      unit: 'MiB/s', peerLabel: 'tar | zstd', vzCmd: `vzdump --mode ${mode}`, peerCmd: 'tar --numeric-owner | zstd -3 -T0',
    });
  }
  // Frozen (suspend) against down (stop): each run's own figure, median over the runs.
  const frozen = [];
  const down = [];
  for (let i = 0; i < runs; i++) {
    run('sh', ['-c', `rm -rf ${dd}/*`]);
    frozen.push(Number(/frozen (\d+) ms/.exec(run(VZDUMP, ['--mode', 'suspend', '--dumpdir', dd, String(BCT)], { env: vz.env }).stdout)?.[1]));
    run('sh', ['-c', `rm -rf ${dd}/*; sleep 1`]);
    down.push(Number(/down ([\d.]+) s/.exec(run(VZDUMP, ['--mode', 'stop', '--dumpdir', dd, String(BCT)], { env: vz.env }).stdout)?.[1]) * 1000);
  }
  row('suspend: frozen time vs stop mode: down time', median(frozen), median(down), { peerLabel: 'stop mode down', vzCmd: 'vzdump --mode suspend', peerCmd: 'vzdump --mode stop' });
  // Issue 13: a container whose only large file is sparse with no blocks. Suspend mode's rsync
  // read such holes as zeros (30 GiB: 116 s against 2.3 s in stop mode); it must now cost about
  // what stop mode's tar --sparse does. A container of its own, so the rest of the tree is small.
  const SCT = BCT + 1;
  vz.create(SCT);
  run(VZCTL, ['start', String(SCT), '-q'], { env: vz.env });
  const sparseGiB = quick ? 4 : 30;
  const big = path.join(vz.root, 'root', String(SCT), 'sparse.img');
  run('truncate', ['-s', `${sparseGiB}G`, big]);
  run('chown', [`${vz.uidBases().get(SCT)}:${vz.uidBases().get(SCT)}`, big]);
  const sp = {};
  for (const mode of ['suspend', 'stop']) sp[mode] = hf(`${VZDUMP} --mode ${mode} --dumpdir ${dd} -q ${SCT}`, { ...opts, runs: quick ? 2 : 5 }).median;
  row(`vzdump --mode suspend vs stop, CT with a ${sparseGiB} GiB sparse file (no blocks)`, sp.suspend, sp.stop, {
    peerLabel: 'stop mode', vzCmd: 'vzdump --mode suspend', peerCmd: 'vzdump --mode stop',
  });
  run(VZCTL, ['stop', String(SCT), '--fast', '-q'], { env: vz.env });
  // A stopped container: only the archive is made (no stop/start, no staging copy).
  run(VZCTL, ['stop', String(BCT), '--fast', '-q'], { env: vz.env });
  const t = hf(`${VZDUMP} --dumpdir ${dd} -q ${BCT}`, opts).median;
  row(`vzdump of a stopped CT, ${treeMiB.toFixed(0)} MiB tree (MiB/s)`, treeMiB / (t / 1000), treeMiB / (peer / 1000), {
    unit: 'MiB/s', peerLabel: 'tar | zstd', vzCmd: 'vzdump (CT stopped)', peerCmd: 'tar --numeric-owner | zstd -3 -T0',
  });
}

try {
  log(`node ${vz.node}, dir ${tmp}, ${quick ? 'quick' : 'full'} run: ${only.join(',')}`);
  await section('node -e 0 / fixed cost', fixedAndNode);
  if (['start', 'stop', 'exec', 'fixed', 'limits'].some(want)) await section('create', createMain);
  if (want('start')) await section('start', startSection);
  if (want('stop')) await section('stop', stopSection);
  if (want('exec') || want('fixed')) await section('exec / status', execAndStatus);
  if (want('limits')) await section('limits', limitsSection);
  if (want('disk')) await section('disk', diskSection);
  if (want('net')) await section('net', netSection);
  if (want('debian')) await section('debian', debianSection);
  if (want('migrate')) await section('migrate', () => migrateSection({ tmp, quick, row, notes, log }));
  if (want('migrate-image')) await section('migrate-image', () => migrateImageSection({ tmp, quick, row, notes, log }));
  if (want('migrate-debian')) await section('migrate-debian', () => migrateDebianSection({ tmp, quick, row, notes, log }));
  if (want('fleet') || want('memory')) await section('fleet', fleetSection);
  if (want('backup')) await section('backup', backupSection);
} finally {
  await cleanup();
  report();
}
process.exit(failures.length || state.interrupted ? 1 : 0);
