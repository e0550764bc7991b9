/**
 * A user namespace that maps a container's uid range to 0..size-1, for tar to run in: archives
 * then hold the container's own ids (portable to any CTID or node), and the kernel translates
 * ACL entries and file capabilities both ways, which no chown-based shift does. Proxmox runs tar
 * through lxc-usernsexec for the same reason. util-linux's --map-users needs /etc/subuid entries,
 * so a holder process (`unshare --user`) gets its maps written by us (root may map any range) and
 * the tools join it with nsenter.
 */
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { childProcess } from '../sys/childproc.js';
import { sleepMs } from '../sys/sleep.js';
import { VzError } from '../base/errors.js';

export interface IdRange {
  base: number;
  size: number;
}

export class UserNs {
  private constructor(
    private readonly holder: ChildProcess,
    readonly pid: number,
  ) {}

  static create(range: IdRange): UserNs {
    // pdeathsig: the holder goes with us, however we die.
    const holder = childProcess().spawn('unshare', ['--user', '--', 'setpriv', '--pdeathsig', 'KILL', '--', 'sleep', 'infinity'], {
      stdio: 'ignore',
    });
    const pid = holder.pid;
    if (!pid) throw new VzError('SYSTEM', 'cannot start unshare --user (util-linux)');
    const ns = new UserNs(holder, pid);
    try {
      const mine = fs.readlinkSync('/proc/self/ns/user');
      const deadline = Date.now() + 5000;
      for (;;) {
        let theirs: string | undefined;
        try {
          theirs = fs.readlinkSync(`/proc/${pid}/ns/user`);
        } catch {}
        if (theirs && theirs !== mine) break;
        if (Date.now() > deadline || holder.exitCode !== null) throw new VzError('SYSTEM', 'unshare --user did not make a user namespace');
        sleepMs(2);
      }
      const map = `0 ${range.base} ${range.size}\n`;
      fs.writeFileSync(`/proc/${pid}/uid_map`, map);
      fs.writeFileSync(`/proc/${pid}/setgroups`, 'deny');
      fs.writeFileSync(`/proc/${pid}/gid_map`, map);
    } catch (e) {
      ns.close();
      if (e instanceof VzError) throw e;
      throw new VzError('SYSTEM', `cannot set up a user namespace for ${range.base}..${range.base + range.size - 1}: ${(e as Error).message}`);
    }
    return ns;
  }

  /** argv that runs `cmd` as root (uid 0 = the range's base) in this namespace. */
  wrap(cmd: string[]): string[] {
    return ['nsenter', `--user=/proc/${this.pid}/ns/user`, '--setuid', '0', '--setgid', '0', '--', ...cmd];
  }

  close(): void {
    try {
      this.holder.kill('SIGKILL');
    } catch {}
  }
}

/** Runs `body` with a namespace for `range`, always removed afterwards. */
export async function withUserNs<T>(range: IdRange, body: (ns: UserNs) => Promise<T> | T): Promise<T> {
  const ns = UserNs.create(range);
  try {
    return await body(ns);
  } finally {
    ns.close();
  }
}
