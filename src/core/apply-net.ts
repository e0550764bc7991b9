/**
 * Networking in the container lifecycle: the IP bookkeeping in the state database, bringing the
 * interfaces up at start (between spawn and go, so init starts with its network), live changes
 * on a running container, and the host-side cleanup after it ends.
 *
 * Two run files per running container: CTID.net.json (what is applied now: the live config and
 * the proxy neighbour entries made for it) and CTID.netdown (an `ip -batch` file that removes
 * the host side; the monitor runs it when the container ends, and so does the cleanup).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from './context.js';
import type { Reverter } from './reverter.js';
import { VzError } from '../base/errors.js';
import { allAddresses, applyDelta, emptyNet, netFromParams, netToParams, type NetConfig, type NetDelta, type NetParams } from '../net/config.js';
import { groupKeys, pickGroup, type CtParams, type ParamValues } from '../config/params.js';
import { diff, ifaces, netdown } from '../net/plan.js';
import { batchText, ipBatch, ipCmd, isBridge, linkExists } from '../net/iproute.js';
import { neighbourResolver } from '../net/neighbour.js';
import { enableForwarding, enableProxyNdp, forwards, ipv6Enabled } from '../net/sysctl.js';
import { writeGuestFiles } from '../net/guest.js';
import { parseIp, type IpAddr } from '../net/addr.js';
import { checkHostAddresses } from '../net/hostaddr.js';
import { applyRate } from '../net/rate.js';
import { hostIfname } from '../net/ifname.js';
import { injected } from '../base/inject.js';

interface LiveNet {
  cfg: NetConfig;
  /** address -> host devices that got a proxy entry for it */
  proxies: Record<string, string[]>;
}

function files(ctx: Context, ctid: number) {
  const run = ctx.cfg.paths.run;
  return { live: path.join(run, `${ctid}.net.json`), down: path.join(run, `${ctid}.netdown`) };
}

const ids = (ctx: Context, ctid: number) => ({ node: ctx.cfg.node, ctid });

function writeAtomic(file: string, text: string): void {
  fs.writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}

export function readLive(ctx: Context, ctid: number): LiveNet | undefined {
  try {
    return JSON.parse(fs.readFileSync(files(ctx, ctid).live, 'utf8')) as LiveNet;
  } catch {
    return undefined;
  }
}

/** Proxy entries: recorded ones for addresses already up (so removal matches what was made), else the node's rule. */
function resolver(ctx: Context, live: LiveNet): (a: IpAddr) => string[] {
  const current = neighbourResolver(ctx.cfg.neighbour_devs);
  return (a) => (live.proxies[a.addr] ??= current(a));
}

function saveLive(ctx: Context, ctid: number, live: LiveNet, downFor: NetConfig[]): void {
  const f = files(ctx, ctid);
  const neigh = (a: IpAddr) => live.proxies[a.addr] ?? [];
  const lines = [...new Set(downFor.flatMap((c) => netdown(c, ids(ctx, ctid), neigh)))];
  writeAtomic(f.down, batchText(lines, 'network cleanup', { ctid }));
  writeAtomic(f.live, JSON.stringify(live));
}

/**
 * The monitor's poststop: removes the host side when the container ends, however it ends, then
 * the file, so the stop that waited for the monitor has no second exec to make.
 */
export function netPoststop(ctx: Context, ctid: number): string[] {
  return ['/bin/sh', '-c', `${ipCmd()} -force -batch "$1"; rm -f -- "$1"`, 'vzkit-netdown', files(ctx, ctid).down];
}

/** The addresses a container has now: the live ones while it runs, else the stored ones. */
export function currentAddresses(ctx: Context, ctid: number, running: boolean, params: NetParams): string[] {
  const cfg = (running ? readLive(ctx, ctid)?.cfg : undefined) ?? netFromParams(params);
  return allAddresses(cfg).map((a) => a.ip);
}

/** create: the network parameters become the stored config (names and MACs generated now). */
export function netConfigForCreate(ctx: Context, ctid: number, params: ParamValues): NetConfig {
  const delta: NetDelta = pickGroup(params, 'net');
  const cfg = Object.keys(delta).length ? applyDelta(emptyNet(), delta, ids(ctx, ctid)) : emptyNet();
  for (const k of groupKeys('net')) delete params[k];
  Object.assign(params, stripUndefined(netToParams(cfg)));
  checkHostNames(cfg, ctx, ctid);
  checkNewAddresses(ctx, ctid, [], cfg);
  return cfg;
}

/**
 * Addresses that `after` has and none of `before` had must not be the host's (its own, its
 * subnets' network and broadcast addresses, its gateways, a route of its own): see net/hostaddr.ts.
 * Routes on this node's host ends are vzkit's own (the state database catches a second use).
 */
function checkNewAddresses(ctx: Context, ctid: number, before: NetConfig[], after: NetConfig): void {
  const had = new Set(before.flatMap((c) => allAddresses(c).map((a) => a.ip)));
  const added = [
    ...after.routed.map((a) => ({ ip: parseIp(a), routed: true })),
    ...after.netifs.flatMap((n) => n.ip.map((a) => ({ ip: parseIp(a), routed: false }))),
  ].filter((a) => !had.has(a.ip.addr));
  const prefix = `${ctx.cfg.node}-`;
  checkHostAddresses(added, (dev) => dev.startsWith(prefix), ctid);
}

/** vzrestore: an archive's addresses get the same host checks as create's (an archive is input too). */
export function checkRestoredAddresses(ctx: Context, ctid: number, params: NetParams): void {
  checkNewAddresses(ctx, ctid, [], netFromParams(params));
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Bridges that exist but are something else, and host names taken by an interface that is not ours. */
function checkHostNames(cfg: NetConfig, ctx: Context, ctid: number, allowExisting = new Set<string>()): void {
  for (const i of ifaces(cfg, ids(ctx, ctid))) {
    if (i.bridge && linkExists(i.bridge) && !isBridge(i.bridge)) {
      throw new VzError('INVALID', `${i.bridge} exists on the host and is not a bridge`, { ctid, hint: 'name another bridge' });
    }
    if (!allowExisting.has(i.host_ifname) && linkExists(i.host_ifname)) {
      throw new VzError('INVALID', `host interface ${i.host_ifname} already exists`, { ctid, hint: 'choose another HOST_IFNAME in --netif_add' });
    }
  }
}

/** Creates the bridges that are missing (up, no STP, no forwarding delay). They stay when unused. */
function ensureBridges(names: string[], ctx: Context, ctid: number): void {
  for (const br of [...new Set(names)]) {
    if (isBridge(br)) continue;
    try {
      ipBatch([`link add ${br} type bridge forward_delay 0`, `link set dev ${br} up`], { what: `create bridge ${br}`, ctid });
      ctx.progress(`Created bridge ${br}`);
    } catch (e) {
      if (!isBridge(br)) throw e; // another start created it at the same moment: fine
    }
  }
}

/** Runs a plan against the host and the container's namespace; host ends get their sysctls. */
function runPlan(ctx: Context, ctid: number, pid: number, before: NetConfig, after: NetConfig, live: LiveNet, force = false): void {
  const neigh = resolver(ctx, live);
  const cmds = diff(before, after, ids(ctx, ctid), pid, neigh);
  if (!ipv6Enabled()) cmds.host = cmds.host.filter((l) => !l.includes('fe80::1/64'));
  ensureBridges(cmds.bridges, ctx, ctid);
  ipBatch(cmds.host, { what: 'network setup on the host', ctid, force });
  for (const i of cmds.newHostIfs) {
    if (!i.routed) continue;
    const missing = enableForwarding(i.name);
    if (missing.length) ctx.warn(`CT ${ctid}: cannot set ${missing.join(', ')}: routed traffic between containers may not pass`);
  }
  for (const a of after.routed) {
    const ip = neigh(parseAddrOf(a));
    for (const dev of ip) {
      const fam = a.includes(':') ? 6 : 4;
      if (fam === 6) enableProxyNdp(dev);
      if (!forwards(dev, fam)) {
        ctx.warn(`CT ${ctid}: ${dev} answers for ${a} but does not forward IPv${fam}: enable forwarding on it (see README, prerequisites)`);
      }
    }
  }
  ipBatch(cmds.ct, { what: 'network setup in the container', ctid, netnsPid: pid, force });
  // The limit on every host end: all of them when it changed, else the new ones.
  const rateChanged = (before.rate ?? null) !== (after.rate ?? null);
  const hostIfs = rateChanged ? ifaces(after, ids(ctx, ctid)).map((i) => i.host_ifname) : cmds.newHostIfs.map((i) => i.name);
  if (after.rate != null || rateChanged) applyRate(hostIfs, hostIfname(ctx.cfg.node, ctid, 'ifb'), after.rate ?? null, ctid);
  // Only what is configured now is remembered.
  const keep = new Set(after.routed.map((a) => parseAddrOf(a).addr));
  for (const k of Object.keys(live.proxies)) if (!keep.has(k)) delete live.proxies[k];
  live.cfg = after;
}

function parseAddrOf(a: string): IpAddr {
  const addr = a.split('/')[0]!;
  return { family: addr.includes(':') ? 6 : 4, addr, prefix: Number(a.split('/')[1] ?? (addr.includes(':') ? 128 : 32)) };
}

export interface NetStart {
  /** Called with init's pid while it waits for "go". */
  up(pid: number): void;
  poststop: string[];
}

/**
 * What start and resume share: the reservations (78 if another container took an address
 * meanwhile), the host-name checks, and the cleanup file, written before anything is made so
 * that any abort can undo all of it.
 */
function beginNet(ctx: Context, ctid: number, params: CtParams, undo: Reverter): { cfg: NetConfig; live: LiveNet } {
  const cfg = netFromParams(params);
  ctx.db().setIps(ctid, allAddresses(cfg));
  checkHostNames(cfg, ctx, ctid);
  const live: LiveNet = { cfg: emptyNet(), proxies: {} };
  const f = files(ctx, ctid);
  writeAtomic(f.down, batchText(netdown(cfg, ids(ctx, ctid), resolver(ctx, live)), 'network cleanup', { ctid }));
  writeAtomic(f.live, JSON.stringify(live));
  undo.add('remove the host side of the network', () => runNetdown(ctx, ctid));
  return { cfg, live };
}

/** start, before the spawn: reservations, checks, the cleanup file, the guest's files. */
export function prepareNetStart(ctx: Context, ctid: number, params: CtParams, root: string, owner: { uid: number; gid: number }, undo: Reverter): NetStart {
  const { cfg, live } = beginNet(ctx, ctid, params, undo);
  try {
    writeGuestFiles(root, params.hostname, cfg, owner);
  } catch (e) {
    ctx.warn(`CT ${ctid}: network files not written: ${(e as Error).message}`);
  }
  return {
    up(pid: number) {
      runPlan(ctx, ctid, pid, emptyNet(), cfg, live);
      saveLive(ctx, ctid, live, [cfg]);
    },
    poststop: netPoststop(ctx, ctid),
  };
}

export interface NetRestore {
  /** A shell script for CRIU's --action-script: at "setup-namespaces" it builds the network
   * in the empty namespace CRIU made (host side first, then inside), before sockets come back. */
  hook: string;
  /** After the restore: per-interface sysctls, the rate limit, the live record. */
  finish(pid: number): void;
  poststop: string[];
}

/**
 * resume / migration: the same network as a start, but applied from CRIU's action script with
 * the root task's pid ($CRTOOLS_INIT_PID) in place of init's. ip batches only: the script runs
 * while the container is frozen.
 */
export function prepareNetRestore(ctx: Context, ctid: number, params: CtParams, undo: Reverter): NetRestore {
  const { cfg, live } = beginNet(ctx, ctid, params, undo);
  const neigh = resolver(ctx, live);
  const cmds = diff(emptyNet(), cfg, ids(ctx, ctid), '$P', neigh); // expanded in the here-document
  if (!ipv6Enabled()) cmds.host = cmds.host.filter((l) => !l.includes('fe80::1/64'));
  ensureBridges(cmds.bridges, ctx, ctid);
  const ctFile = path.join(ctx.cfg.paths.run, `${ctid}.restore-ct`);
  // lo is down in the namespace CRIU makes empty; the host batch has "$P" expanded by the shell.
  writeAtomic(ctFile, batchText(['link set dev lo up', ...cmds.ct], 'network setup in the container', { ctid }));
  const hook = path.join(ctx.cfg.paths.run, `${ctid}.criu-hook`);
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = [
    '#!/bin/sh',
    '# vzkit: CRIU action script (generated by resume/migration; see src/core/apply-net.ts).',
    '[ "$CRTOOLS_SCRIPT_ACTION" = setup-namespaces ] || exit 0',
    'P=$CRTOOLS_INIT_PID',
    // CRIU runs scripts with stdin closed: ip's netlink socket would become fd 0, which
    // "-batch FILE" then replaces with the file (ENOTSOCK).
    'exec </dev/null',
    'set -e',
    ...(injected('RESTORE_FAIL') ? ['echo "vzkit: injected restore failure" >&2', 'exit 1'] : []),
    // A here-document the shell expands ($P): only plain words may go into it.
    `${q(ipCmd())} -batch - <<VZKIT_EOF`,
    batchText(cmds.host, 'network setup on the host', { ctid, shellPid: true }).trimEnd(),
    'VZKIT_EOF',
    `nsenter --net=/proc/$P/ns/net ${q(ipCmd())} -batch ${q(ctFile)}`,
  ].join('\n') + '\n';
  fs.writeFileSync(hook, script, { mode: 0o700 });
  undo.add('remove the restore hook', () => {
    for (const x of [hook, ctFile]) fs.rmSync(x, { force: true });
  });
  return {
    hook,
    finish(pid: number) {
      for (const x of [hook, ctFile]) fs.rmSync(x, { force: true });
      const after = diff(emptyNet(), cfg, ids(ctx, ctid), pid, neigh);
      for (const i of after.newHostIfs) {
        if (!i.routed) continue;
        const missing = enableForwarding(i.name);
        if (missing.length) ctx.warn(`CT ${ctid}: cannot set ${missing.join(', ')}: routed traffic between containers may not pass`);
      }
      for (const a of cfg.routed) for (const dev of neigh(parseAddrOf(a))) if (a.includes(':')) enableProxyNdp(dev);
      if (cfg.rate != null) applyRate(ifaces(cfg, ids(ctx, ctid)).map((i) => i.host_ifname), hostIfname(ctx.cfg.node, ctid, 'ifb'), cfg.rate, ctid);
      const keep = new Set(cfg.routed.map((a) => parseAddrOf(a).addr));
      for (const k of Object.keys(live.proxies)) if (!keep.has(k)) delete live.proxies[k];
      live.cfg = cfg;
      saveLive(ctx, ctid, live, [cfg]);
    },
    poststop: netPoststop(ctx, ctid),
  };
}

function runNetdown(ctx: Context, ctid: number): void {
  const f = files(ctx, ctid);
  let lines: string[] = [];
  try {
    lines = fs.readFileSync(f.down, 'utf8').split('\n').filter(Boolean);
  } catch {
    // nothing recorded
  }
  if (lines.length) ipBatch(lines, { force: true, what: 'network cleanup', ctid });
  for (const x of [f.down, f.live, `${f.down}.tmp`, `${f.live}.tmp`]) fs.rmSync(x, { force: true });
}

/**
 * After the container ended (stop, halt, crash, killed start): no host interface, route or proxy
 * entry is left, and addresses that were only added live are free again.
 */
export function netCleanup(ctx: Context, ctid: number): void {
  runNetdown(ctx, ctid);
  const db = ctx.dbIfExists();
  if (db && !db.readonly && db.getContainer(ctid)) db.setIps(ctid, allAddresses(netFromParams(db.getParams(ctid))));
}

export function hasNetLeftovers(ctx: Context, ctid: number): boolean {
  return fs.existsSync(files(ctx, ctid).down);
}

export interface NetSetResult {
  /** Stored keys to save (with --save). */
  store: NetParams;
  applied: boolean;
}

/**
 * set: the change is checked against the stored and (when running) the live config, the address
 * reservations follow it, and a running container gets it at once. On failure the reservations
 * and the live state go back (the Reverter).
 */
export function setNet(
  ctx: Context,
  ctid: number,
  d: NetDelta,
  opts: { save: boolean; initPid?: number; stored: CtParams; hostname?: string; root?: string; owner: { uid: number; gid: number } },
  undo: Reverter,
): NetSetResult {
  const storedBefore = netFromParams(opts.stored);
  const storedAfter = opts.save ? applyDelta(storedBefore, d, ids(ctx, ctid)) : storedBefore;
  const live = opts.initPid !== undefined ? (readLive(ctx, ctid) ?? { cfg: storedBefore, proxies: {} }) : undefined;
  const liveBefore = live ? structuredClone(live.cfg) : undefined;
  const liveAfter = live ? applyDelta(live.cfg, d, ids(ctx, ctid)) : undefined;
  checkNewAddresses(ctx, ctid, [storedBefore, ...(liveBefore ? [liveBefore] : [])], storedAfter);
  if (liveAfter) checkNewAddresses(ctx, ctid, [storedBefore, ...(liveBefore ? [liveBefore] : [])], liveAfter);
  const db = ctx.db();
  const before = db.listIps(ctid).map(({ ip, kind }) => ({ ip, kind }));
  const want = [...allAddresses(storedAfter), ...(liveAfter ? allAddresses(liveAfter) : [])];
  db.setIps(ctid, [...new Map(want.map((a) => [a.ip, a])).values()]);
  undo.add('restore the address reservations', () => db.setIps(ctid, before));
  if (live && liveBefore && liveAfter) {
    const existing = new Set(ifaces(liveBefore, ids(ctx, ctid)).map((i) => i.host_ifname));
    checkHostNames(liveAfter, ctx, ctid, existing);
    // Cover both states while changing: whatever is half done is still removed at the end.
    saveLive(ctx, ctid, live, [liveBefore, liveAfter]);
    undo.add('undo the live network change', () => {
      // From wherever it stopped: each step of the way back runs, failed ones are skipped.
      try {
        runPlan(ctx, ctid, opts.initPid!, liveAfter, liveBefore, live, true);
      } finally {
        live.cfg = liveBefore;
        saveLive(ctx, ctid, live, [liveBefore, liveAfter]);
      }
    });
    runPlan(ctx, ctid, opts.initPid!, liveBefore, liveAfter, live);
    saveLive(ctx, ctid, live, [liveAfter]);
    if (opts.root) {
      try {
        writeGuestFiles(opts.root, opts.hostname, liveAfter, opts.owner);
      } catch (e) {
        ctx.warn(`CT ${ctid}: network files not written: ${(e as Error).message}`);
      }
    }
  } else if (opts.root && opts.save) {
    try {
      writeGuestFiles(opts.root, opts.hostname, storedAfter, opts.owner);
    } catch (e) {
      ctx.warn(`CT ${ctid}: network files not written: ${(e as Error).message}`);
    }
  }
  return { store: netToParams(storedAfter), applied: live !== undefined };
}

/** /etc/hosts follows a hostname change (the container's current addresses). */
export function refreshHosts(ctx: Context, ctid: number, root: string, hostname: string, running: boolean, params: CtParams, owner: { uid: number; gid: number }): void {
  const cfg = (running ? readLive(ctx, ctid)?.cfg : undefined) ?? netFromParams(params);
  try {
    writeGuestFiles(root, hostname, { ...cfg, nameserver: undefined, searchdomain: undefined }, owner);
  } catch (e) {
    ctx.warn(`CT ${ctid}: /etc/hosts not written: ${(e as Error).message}`);
  }
}
