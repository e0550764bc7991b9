/**
 * Builds a Debian OS template with debootstrap from Debian's archive, then makes it fit for a
 * container: units that cannot work unprivileged are masked, SSH host keys are removed (each
 * container makes its own at first start), machine-id is emptied (systemd makes one per boot of a
 * new container and commits it), and the host's hostname and resolv.conf are not carried over.
 *
 * debootstrap runs in a mount and a pid namespace of its own: the /proc and /sys it mounts in the
 * target vanish with it, and it dies with vzctl, also when vzctl is killed, so a half build never
 * holds host mounts or goes on writing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { VzError } from '../base/errors.js';
import { childProcess } from '../sys/childproc.js';
import type { DebootstrapSpec } from '../config/templates.js';

export const DEFAULT_MIRROR = 'http://deb.debian.org/debian';

/** What a status line shows while a template builds: a fraction when one is known. */
export type BuildStatus = (fraction: number | undefined, label: string) => void;

/**
 * debootstrap's phases, each with the share of the whole it takes here (measured: about 60 s for
 * bookworm with a VPS package set, downloads ~45%, unpacking and configuring the rest).
 */
const PHASES: Array<{ re: RegExp; name: string; from: number; to: number }> = [
  { re: /^I: (Retrieving|Validating|Checking|Resolving|Found)/, name: 'downloading', from: 0, to: 0.45 },
  { re: /^I: Extracting/, name: 'extracting', from: 0.45, to: 0.55 },
  { re: /^I: (Installing|Unpacking)/, name: 'unpacking', from: 0.55, to: 0.75 },
  { re: /^I: (Configuring|Base system installed)/, name: 'configuring', from: 0.75, to: 0.98 },
];

/** Turns debootstrap's "I:" lines into a fraction; packages per phase come from the download count. */
export class DebootstrapProgress {
  private phase = -1;
  private inPhase = 0;
  private debs = 0;

  line(l: string): { fraction: number; label: string } | undefined {
    const i = PHASES.findIndex((p) => p.re.test(l));
    if (i < 0) return undefined;
    if (i !== this.phase) {
      this.phase = Math.max(this.phase, i);
      this.inPhase = 0;
    }
    this.inPhase++;
    const p = PHASES[this.phase]!;
    if (/^I: Retrieving \S+ \S+$/.test(l) || /^I: Validating \S+ \S+$/.test(l)) this.debs = Math.max(this.debs, this.inPhase / 2);
    const total = this.phase === 0 ? 0 : this.debs;
    const within = total > 0 ? Math.min(1, this.inPhase / total) : 0.5;
    const item = /^I: \S+ (\S+)/.exec(l)?.[1] ?? '';
    return { fraction: p.from + (p.to - p.from) * within, label: `${p.name} ${item}`.trim() };
  }
}

function debootstrapArgs(spec: DebootstrapSpec, dest: string, debCache: string): string[] {
  // setpriv: unshare dies with us; --pid --kill-child: debootstrap and all it started die with
  // unshare. A killed create or build leaves no process writing into a tree about to be removed.
  const args = ['--pdeathsig', 'KILL', 'unshare', '--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child=SIGKILL'];
  args.push('debootstrap', `--variant=${spec.variant ?? 'minbase'}`, `--cache-dir=${debCache}`);
  if (spec.components?.length) args.push(`--components=${spec.components.join(',')}`);
  if (spec.packages?.length) args.push(`--include=${spec.packages.join(',')}`);
  args.push(spec.suite, dest, spec.mirror ?? DEFAULT_MIRROR);
  return args;
}

/** The last lines debootstrap printed, for an error that says what went wrong. */
function explain(lines: string[]): string {
  const err = lines.filter((l) => /^E: /.test(l));
  const pick = err.length ? err : lines.slice(-3);
  return pick.join(' ').replace(/\s+/g, ' ').trim() || 'no output';
}

export async function buildDebootstrap(dest: string, spec: DebootstrapSpec, debCache: string, status: BuildStatus): Promise<void> {
  fs.mkdirSync(debCache, { recursive: true, mode: 0o700 });
  const progress = new DebootstrapProgress();
  const tail: string[] = [];
  const child = spawn('setpriv', debootstrapArgs(spec, dest, debCache), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' },
  });
  const onLine = (l: string) => {
    tail.push(l);
    if (tail.length > 40) tail.shift();
    const p = progress.line(l);
    if (p) status(p.fraction, p.label);
  };
  readline.createInterface({ input: child.stdout! }).on('line', onLine);
  readline.createInterface({ input: child.stderr! }).on('line', onLine);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, sig) => resolve(sig ? -1 : c));
  }).catch((e: Error) => {
    throw new VzError('BAD_TEMPLATE', `cannot run debootstrap: ${e.message}`, { hint: 'apt-get install debootstrap (npm run setup does it)' });
  });
  if (code !== 0) {
    throw new VzError('BAD_TEMPLATE', `debootstrap ${spec.suite} failed: ${explain(tail)}`, {
      hint: `check the suite, the mirror (${spec.mirror ?? DEFAULT_MIRROR}) and the package names`,
    });
  }
  status(0.98, 'preparing it for containers');
  prepareForContainers(dest, spec);
  status(1, 'done');
}

/** Symlinks and files written into the new tree (it is ours, not yet a container's: plain fs). */
export function prepareForContainers(dest: string, spec: DebootstrapSpec): void {
  const etc = (rel: string) => path.join(dest, 'etc', rel);
  const unitDir = etc('systemd/system');
  fs.mkdirSync(unitDir, { recursive: true });
  for (const unit of spec.mask ?? []) {
    fs.rmSync(path.join(unitDir, unit), { force: true });
    fs.symlinkSync('/dev/null', path.join(unitDir, unit));
  }
  // Host keys: made by each container at its first start, never shared from the template.
  for (const f of fs.readdirSync(etc('ssh'), { withFileTypes: true }).filter((e) => e.name.startsWith('ssh_host_'))) {
    fs.rmSync(path.join(etc('ssh'), f.name));
  }
  if (fs.existsSync(path.join(dest, 'lib/systemd/system/ssh.service')) || fs.existsSync(path.join(dest, 'usr/lib/systemd/system/ssh.service'))) {
    fs.mkdirSync(path.join(unitDir, 'ssh.service.d'), { recursive: true });
    // ssh.service's own ExecStartPre (sshd -t) needs the keys: reset the list, keygen first.
    fs.writeFileSync(
      path.join(unitDir, 'ssh.service.d/vzkit-hostkeys.conf'),
      '# vzkit: each container makes its own SSH host keys at its first start\n[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n',
    );
  }
  fs.writeFileSync(etc('machine-id'), '');
  fs.rmSync(path.join(dest, 'var/lib/dbus/machine-id'), { force: true });
  fs.writeFileSync(etc('hostname'), 'localhost\n');
  fs.writeFileSync(etc('hosts'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n');
  fs.rmSync(etc('resolv.conf'), { force: true });
  fs.writeFileSync(etc('resolv.conf'), '');
  for (const cmd of spec.post_install ?? []) {
    const r = childProcess().spawnSync('chroot', [dest, '/bin/sh', '-c', cmd], {
      encoding: 'utf8',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.status !== 0) {
      const why = (r.stderr || r.stdout || r.error?.message || `exit ${r.status}`).trim().split('\n').pop();
      throw new VzError('BAD_TEMPLATE', `post_install step failed: ${cmd}: ${why}`);
    }
  }
  // Downloaded package files are in the shared deb cache; the tree keeps none.
  fs.rmSync(path.join(dest, 'var/cache/apt/archives'), { recursive: true, force: true });
  fs.mkdirSync(path.join(dest, 'var/cache/apt/archives/partial'), { recursive: true });
}
