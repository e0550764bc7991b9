/**
 * Per-interface sysctls of the host ends. Only the container's own interfaces are changed, never a
 * global switch: forwarding per interface lets routed traffic between containers pass through
 * the host while net.ipv4.ip_forward and the host's other interfaces stay as they are.
 */
import fs from 'node:fs';

function write(file: string, value: string): boolean {
  try {
    fs.writeFileSync(file, value);
    return true;
  } catch {
    return false;
  }
}

export function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function ipv6Enabled(): boolean {
  return read('/proc/sys/net/ipv6/conf/all/disable_ipv6') === '0';
}

/**
 * Packets the container sends through its routed host end may be forwarded (IPv4: the
 * interface's own forwarding flag; IPv6: force_forwarding, kernel 6.17+). Returns the ones that
 * could not be set, for a warning.
 */
export function enableForwarding(ifname: string): string[] {
  const missing: string[] = [];
  if (!write(`/proc/sys/net/ipv4/conf/${ifname}/forwarding`, '1')) missing.push(`net.ipv4.conf.${ifname}.forwarding`);
  if (ipv6Enabled() && !write(`/proc/sys/net/ipv6/conf/${ifname}/force_forwarding`, '1')) {
    if (read('/proc/sys/net/ipv6/conf/all/forwarding') !== '1') missing.push(`net.ipv6.conf.${ifname}.force_forwarding (or net.ipv6.conf.all.forwarding)`);
  }
  return missing;
}

/** A proxy NDP entry is only answered on an interface with proxy_ndp set. */
export function enableProxyNdp(ifname: string): void {
  write(`/proc/sys/net/ipv6/conf/${ifname}/proxy_ndp`, '1');
}

/** Whether a host device forwards what it receives (needed for its proxy ARP/NDP to reach a container). */
export function forwards(ifname: string, family: 4 | 6): boolean {
  if (family === 4) return read(`/proc/sys/net/ipv4/conf/${ifname}/forwarding`) === '1';
  // The kernel answers a proxy NDP entry only on an interface with forwarding set, and forwards
  // what it receives only with the global switch or force_forwarding (6.17+).
  if (read('/proc/sys/net/ipv6/conf/all/forwarding') === '1') return true;
  return read(`/proc/sys/net/ipv6/conf/${ifname}/forwarding`) === '1' && read(`/proc/sys/net/ipv6/conf/${ifname}/force_forwarding`) === '1';
}
