/**
 * Stage "copy files": the private area (or an image's mounted tree) to DEST with rsync over the
 * master connection, while the container runs (online, restart mode) or is stopped (offline).
 * Also the later sync of what changed since (syncChanged), which the restart mode's "sync the
 * rest" and the online dump run.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { Stage } from '../stages.js';
import { CTIME_MARGIN_S, changedSince } from '../changed.js';
import { MigExit, StageFailure } from '../errors.js';
import type { Migration } from './migration.js';

/** VZKIT_RSYNC_BWLIMIT (KiB/s): a tuning knob, and how the tests make a copy last long enough to cut. */
export function bwLimit(): string[] {
  return process.env.VZKIT_RSYNC_BWLIMIT ? [`--bwlimit=${process.env.VZKIT_RSYNC_BWLIMIT}`] : [];
}

/** A tree copy stays on the image's file system: what the host mounted below VE_ROOT is not the container's. */
function oneFs(m: Migration): string[] {
  return m.tree ? ['--one-file-system'] : [];
}

/** What is read: the idmapped view, the image's mounted tree, or the private area. */
function src(m: Migration): string {
  const { t } = m;
  return m.viewDir ? `${m.viewDir}/root/` : m.tree ? `${t.mountPath}/` : m.isDir ? `${t.privatePath}/` : t.privatePath;
}

/** Where it goes on DEST. */
function dstOf(m: Migration): string {
  return m.tree ? `${m.destMount}/` : m.isDir ? `${m.destPrivate}/` : m.destPrivate;
}

function rsync(m: Migration, from: string, dst: string, what: string, extra: string[], okStatus: number[]): void {
  const r = spawnSync('rsync', ['-aHAX', '--numeric-ids', '--sparse', ...oneFs(m), ...bwLimit(), ...extra, '-e', m.ssh.rsyncShell(), from, `${m.o.dest}:${dst}`], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (!okStatus.includes(r.status ?? -1)) throw new StageFailure(MigExit.COPY, `rsync of ${what}: ${(r.stderr ?? '').trim().split('\n').slice(-2).join('; ') || `exit ${r.status}`}`);
}

function rsyncAsync(m: Migration, from: string, dst: string, what: string, extra: string[], input?: Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const c = spawn('rsync', ['-aHAX', '--numeric-ids', '--sparse', ...oneFs(m), ...extra, '-e', m.ssh.rsyncShell(), from, `${m.o.dest}:${dst}`], { stdio: [input ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    if (input) {
      c.stdin!.on('error', () => {}); // a dead rsync shows in its exit code
      c.stdin!.end(input);
    }
    let err = '';
    c.stderr!.on('data', (d) => (err += d));
    c.on('close', (code) => (code === 0 ? resolve() : reject(new StageFailure(MigExit.COPY, `rsync of ${what}: ${err.trim().split('\n').slice(-2).join('; ') || `exit ${code}`}`))));
  });
}

export function copyFiles(m: Migration): Stage {
  return {
    name: 'copy files',
    run: () => {
      // What changed after the first copy began is what the final sync sends (changed.ts).
      m.copyFrom0 = Date.now() / 1000 - CTIME_MARGIN_S;
      // Online, files that vanish while the tree is copied (rsync's exit 24) are for the final sync.
      rsync(m, src(m), dstOf(m), 'the private area', ['--delete'], m.online ? [0, 24] : [0]);
    },
  };
}

/**
 * The sync after the freeze (online) or the stop (restart): only the entries changed since the
 * first copy began, a changed directory whole with --delete; the whole tree when that list
 * cannot be had. Nothing changed: no rsync (and no SSH session) at all.
 */
export async function syncChanged(m: Migration, what: string, extra: string[]): Promise<void> {
  const from = src(m);
  const list = from.endsWith('/') && m.copyFrom0 ? await changedSince(from, m.copyFrom0, oneFs(m).length > 0) : null;
  if (!list) {
    m.notes.push(`${what}: the whole tree`);
    return rsyncAsync(m, from, dstOf(m), what, ['--delete', ...extra]);
  }
  m.notes.push(`${what}: ${list.length} changed ${list.length === 1 ? 'entry' : 'entries'} since the first copy began`);
  if (!list.length) return;
  return rsyncAsync(m, from, dstOf(m), what, ['-r', '--delete', '--from0', '--files-from=-', ...extra], Buffer.from(list.join('\0') + '\0', 'latin1'));
}
