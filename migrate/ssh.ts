/**
 * The SSH transport: one master connection (ControlMaster) in BatchMode that every later
 * command, rsync and the page-server tunnel multiplex over. Killing it ends them all, which is
 * also how the fault tests cut the line.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { StageFailure, MigExit } from './errors.js';

export interface RemoteResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Splits --ssh="-i KEY -p 22 -o X=Y" like a shell would for plain words (no quotes inside). */
export function splitSshOptions(s: string | undefined): string[] {
  return (s ?? '').split(/\s+/).filter(Boolean);
}

export class Ssh {
  /** Its temporary directory (the control socket). */
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzmigrate-'));
  readonly control = path.join(this.dir, 'ctl');
  private master?: ChildProcess;

  constructor(
    readonly dest: string,
    readonly opts: string[],
  ) {}

  /** ssh's own options for every connection over the master. */
  baseArgs(): string[] {
    return ['-o', 'BatchMode=yes', '-o', `ControlPath=${this.control}`, ...this.opts];
  }

  /** Opens the master connection; fails with CANT_CONNECT. */
  async connect(timeoutMs = 15_000): Promise<void> {
    // After the user's options: ssh keeps the first value it reads, so theirs win.
    const m = spawn('ssh', ['-M', '-N', '-o', 'ControlMaster=yes', '-o', 'ConnectTimeout=10', '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=2', ...this.baseArgs(), ...cipherPreference(), this.dest], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.master = m;
    let err = '';
    m.stderr!.on('data', (d) => (err += d));
    const t0 = Date.now();
    while (!fs.existsSync(this.control)) {
      if (m.exitCode !== null || Date.now() - t0 > timeoutMs) {
        m.kill('SIGKILL');
        throw new StageFailure(MigExit.CANT_CONNECT, `cannot connect to ${this.dest} over SSH: ${err.trim() || 'timeout'}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The master's pid (tests kill it to cut the connection). */
  masterPid(): number | undefined {
    return this.master?.pid;
  }

  /** Runs argv on DEST (words joined by the remote shell: our words are plain). */
  run(argv: string[], input?: string, timeoutMs = 600_000): RemoteResult {
    const r = spawnSync('ssh', [...this.baseArgs(), this.dest, '--', ...argv.map(shq)], { input, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
    return { code: r.status ?? 255, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? r.error.message : '') };
  }

  /** Like run, async (the page server's session lives beside the dump). */
  spawn(argv: string[], extra: string[] = []): ChildProcess {
    return spawn('ssh', [...this.baseArgs(), ...extra, this.dest, '--', ...argv.map(shq)], { stdio: ['pipe', 'pipe', 'pipe'] });
  }

  /** The -e of rsync: the same multiplexed connection. */
  rsyncShell(): string {
    return ['ssh', ...this.baseArgs()].map(shq).join(' ');
  }

  /** A local port forwarded to DEST's 127.0.0.1:port over the master. */
  forward(localPort: number, remotePort: number): void {
    const r = spawnSync('ssh', [...this.baseArgs(), '-O', 'forward', '-L', `127.0.0.1:${localPort}:127.0.0.1:${remotePort}`, this.dest], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ssh port forward: ${(r.stderr ?? '').trim()}`);
  }

  close(): void {
    if (this.master && this.master.exitCode === null) {
      spawnSync('ssh', [...this.baseArgs(), '-O', 'exit', this.dest], { stdio: 'ignore', timeout: 5000 });
      this.master.kill('SIGKILL');
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * With AES instructions, AES-GCM first: the pages of a migration cross this connection while the
 * container is frozen, and OpenSSH's chacha20-poly1305 (its default) moves about half as much
 * (402 vs 782 MB/s measured on these machines).
 */
export function cipherPreference(cpuinfo = readCpuinfo()): string[] {
  return /^(flags|Features)\s*:.*\baes\b/m.test(cpuinfo) ? ['-o', 'Ciphers=^aes128-gcm@openssh.com,aes256-gcm@openssh.com'] : [];
}

function readCpuinfo(): string {
  try {
    return fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

export function shq(s: string): string {
  return /^[A-Za-z0-9_\-./=:,@+]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * One command on DEST over a connection of its own (not the master's, which may be the thing
 * that broke): what asks DEST after a lost answer, also from a later process (journal.ts).
 */
export function sshOnce(dest: string, opts: string[], argv: string[], input: string, timeoutMs = 60_000): RemoteResult {
  const r = spawnSync('ssh', ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=2', ...opts, dest, '--', ...argv.map(shq)], { input, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  return { code: r.status ?? 255, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? r.error.message : '') };
}
