/**
 * --rate: a bandwidth limit per container, in each direction, on the host side (where the
 * container cannot undo it): a token bucket (tbf) on each host end for what goes to the container,
 * and for what comes from it a redirect of each host end's ingress to the container's ifb device,
 * shaped by a tbf too. (A policer would be simpler, but act_police and cls_matchall are not in
 * every kernel, this one's included; u32 + mirred + ifb are.) tc runs as one `tc -batch -`.
 */
import fs from 'node:fs';
import { childProcess } from '../sys/childproc.js';
import { VzError } from '../base/errors.js';
import { batchText, ipBatch, linkExists } from './iproute.js';

/** "100M", "1.5G", "512k", "100mbit", "unlimited"/0 (none): bits per second, decimal as tc counts them. */
export function parseRate(raw: unknown): number | null {
  const s = typeof raw === 'number' ? String(raw) : raw;
  if (typeof s !== 'string') throw new VzError('INVALID', '"rate" must be a string like 100M (bits/s)');
  const t = s.trim().toLowerCase();
  if (t === 'unlimited' || t === '0') return null;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:bit|bps|b)?(?:\/s)?$/.exec(t);
  if (!m) throw new VzError('INVALID', `invalid rate "${s}": expected bits per second like 100M, 512k or 1G, or unlimited`);
  const v = Math.round(Number(m[1]) * { '': 1, k: 1e3, m: 1e6, g: 1e9 }[m[2] as '' | 'k' | 'm' | 'g']);
  if (v < 8000) throw new VzError('INVALID', `invalid rate "${s}": at least 8k (bits/s)`);
  return v;
}

/** Bucket size: 20 ms at the rate, but never below 64 KiB (a GSO packet on a veth). */
function burst(rate: number): number {
  return Math.max(64 * 1024, Math.round((rate / 8) * 0.02));
}

export function rateCommands(hostIfs: string[], ifb: string, rate: number | null | undefined): string[] {
  const out: string[] = [];
  for (const h of hostIfs) {
    if (rate == null) {
      out.push(`qdisc del dev ${h} root`, `qdisc del dev ${h} ingress`);
      continue;
    }
    const b = burst(rate);
    out.push(
      `qdisc replace dev ${h} root tbf rate ${rate}bit burst ${b} latency 50ms`,
      `qdisc replace dev ${h} ingress`,
      `filter replace dev ${h} parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev ${ifb}`,
    );
  }
  if (rate != null) out.push(`qdisc replace dev ${ifb} root tbf rate ${rate}bit burst ${burst(rate)} latency 50ms`);
  return out;
}

function tcCmd(): string {
  for (const p of ['/usr/sbin/tc', '/sbin/tc', '/usr/bin/tc']) if (fs.existsSync(p)) return p;
  throw new VzError('SYSTEM', 'tc (iproute2) is not installed', { hint: 'apt-get install iproute2' });
}

/**
 * Applies (or with rate null removes) the limit; removal tolerates what is not there. The ifb
 * device is made here when missing and removed with the limit (and by the netdown file).
 */
export function applyRate(hostIfs: string[], ifb: string, rate: number | null | undefined, ctid: number): void {
  if (rate != null && hostIfs.length === 0) return; // nothing to limit yet: made with the first interface
  if (rate != null && !linkExists(ifb)) ipBatch([`link add ${ifb} type ifb`, `link set dev ${ifb} up`], { what: `create ${ifb} for the bandwidth limit`, ctid });
  const cmds = rateCommands(hostIfs, ifb, rate);
  if (rate == null && linkExists(ifb)) ipBatch([`link del dev ${ifb}`], { what: `remove ${ifb}`, ctid, force: true });
  if (!cmds.length) return;
  const force = rate == null;
  const r = childProcess().spawnSync(tcCmd(), [...(force ? ['-force'] : []), '-batch', '-'], { input: batchText(cmds, 'bandwidth limit', { ctid }), encoding: 'utf8', stdio: ['pipe', 'ignore', 'pipe'] });
  if (r.status !== 0 && !force) {
    const msg = (r.stderr ?? '').split('\n').find((l) => l && !/^Command failed/.test(l)) ?? `exit ${r.status}`;
    throw new VzError('SYSTEM', `bandwidth limit: ${msg}`, { ctid });
  }
}
