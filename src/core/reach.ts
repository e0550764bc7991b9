/**
 * Which host users can reach a container's files: root, and the container's own root uid (the
 * helper binds the root file system as that uid, and a restored task reads its dump as it).
 * No other host user: through ROOT/root/CTID a local user could otherwise read the tenant's
 * files, or run a setuid binary the tenant planted there and become the container root's host
 * uid (and through it open the --devnodes copies in ROOT/dev/CTID). The mounts cannot be made
 * nosuid on the host side: the container's root is a bind of that mount, whose flags are locked
 * in its user namespace, so its own su and sudo would stop working.
 *
 * ROOT/root and ROOT/dump are gates: mode 0700 with a search-only ACL entry per container root
 * uid (src/sys/acl.ts). ROOT/dev/CTID is 0700 and owned by the container's root uid.
 */
import fs from 'node:fs';
import type { GlobalConfig } from '../config/global.js';
import { gateDir } from '../sys/acl.js';

let warned = false;

/**
 * gateDir, or where that fails (a file system without POSIX ACLs, e.g. some network file
 * systems) the old 0711 with a warning: a container that starts beats one that cannot.
 */
function gate(dir: string, add: number[], remove: number[], warn?: (msg: string) => void): void {
  try {
    gateDir(dir, add, remove);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === undefined || code === 'ENOENT') throw e;
    if (!add.length) return; // closing or cleaning up: nothing to fall back to
    fs.chmodSync(dir, fs.statSync(dir).mode | 0o111);
    if (!warned && warn) warn(`cannot set an ACL on ${dir} (${code}): it is left 0711, so other host users can reach the containers' files`);
    warned = true;
  }
}

/** Closes the gates of a node (every command that opens the state for writing; cheap when done). */
export function closeGates(cfg: GlobalConfig, warn?: (msg: string) => void): void {
  for (const dir of [cfg.paths.mounts, cfg.paths.dumps]) if (fs.existsSync(dir)) gate(dir, [], [], warn);
}

/** Lets a container's root uid pass a gate (start, resume, restore): ROOT/root, or a dump's parent. */
export function letThrough(dir: string, uid: number, warn?: (msg: string) => void): void {
  gate(dir, [uid], [], warn);
}

/** destroy: the uid's entries go (its slot may be given to another container later, which gets its own). */
export function shutOut(cfg: GlobalConfig, uid: number): void {
  for (const dir of [cfg.paths.mounts, cfg.paths.dumps]) if (fs.existsSync(dir)) gate(dir, [], [uid]);
}
