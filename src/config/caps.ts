/**
 * Capabilities of the container's root (vzctl's --capability NAME:on|off). Root inside a user
 * namespace holds them only over what that namespace owns, and the kernel refuses the host-wide
 * ones anyway; the defaults below also take the dangerous ones out of the bounding set, as LXC
 * (lxc.cap.drop) and Docker do, so a kernel bug in one of them is not reachable from inside.
 */
import { VzError } from '../base/errors.js';
import { show } from './values.js';

/** Linux capability numbers (linux/capability.h). */
export const CAPS: Record<string, number> = {
  chown: 0, dac_override: 1, dac_read_search: 2, fowner: 3, fsetid: 4, kill: 5, setgid: 6, setuid: 7,
  setpcap: 8, linux_immutable: 9, net_bind_service: 10, net_broadcast: 11, net_admin: 12, net_raw: 13,
  ipc_lock: 14, ipc_owner: 15, sys_module: 16, sys_rawio: 17, sys_chroot: 18, sys_ptrace: 19, sys_pacct: 20,
  sys_admin: 21, sys_boot: 22, sys_nice: 23, sys_resource: 24, sys_time: 25, sys_tty_config: 26, mknod: 27,
  lease: 28, audit_write: 29, audit_control: 30, setfcap: 31, mac_override: 32, mac_admin: 33, syslog: 34,
  wake_alarm: 35, block_suspend: 36, audit_read: 37, perfmon: 38, bpf: 39, checkpoint_restore: 40,
};

/** Off unless turned on: module loading, raw I/O, the clock, MAC policy, the kernel log, audit control, wake-ups. */
export const DEFAULT_OFF = ['sys_module', 'sys_rawio', 'sys_time', 'mac_admin', 'mac_override', 'syslog', 'wake_alarm', 'block_suspend', 'audit_control', 'perfmon', 'bpf'];

/** NAME:on|off (repeatable; NAME as in capabilities(7), with or without CAP_, any case). */
export function parseCapabilities(raw: unknown): Record<string, 'on' | 'off'> {
  const items = Array.isArray(raw) ? raw : [raw];
  const out: Record<string, 'on' | 'off'> = {};
  for (const item of items) {
    const s = typeof item === 'string' ? item.trim().toLowerCase() : '';
    const m = /^(?:cap_)?([a-z_]+):(on|off)$/.exec(s);
    if (!m) throw new VzError('INVALID', `invalid capability ${show(item)}: expected NAME:on|off, e.g. sys_time:on`);
    if (!Object.hasOwn(CAPS, m[1]!)) throw new VzError('INVALID', `unknown capability ${show(m[1])} (see capabilities(7))`);
    out[m[1]!] = m[2] as 'on' | 'off';
  }
  return out;
}

/** The capability numbers to drop from the bounding set: the defaults, changed by the container's settings. */
export function capDropList(settings: Record<string, 'on' | 'off'> | undefined): number[] {
  const off = new Set(DEFAULT_OFF);
  for (const [name, v] of Object.entries(settings ?? {})) {
    if (v === 'on') off.delete(name);
    else off.add(name);
  }
  return [...off].map((n) => CAPS[n]!).sort((a, b) => a - b);
}
