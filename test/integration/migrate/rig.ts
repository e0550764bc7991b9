/**
 * Two vzkit nodes on one machine for the migration tests. The source is a TestNode in the host's
 * network namespace; DEST is a network namespace with its own veth link to the host, its own
 * sshd (Debian's openssh-server with a config, host key and authorized key made here, and
 * `SetEnv VZKIT_CONFIG=...` so vzkit there uses DEST's own root and node name), and its own
 * TestNode. Everything is removed by close(): sshd, namespace, links, keys, both nodes.
 * Addresses come from 198.19.R.0/24 (the link) with an unreachable fence over the range.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { REPO, TestNode, descendants, waitFor } from '../harness.js';

const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
function must(cmd: string, args: string[]): string {
  const r = sh(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export class MigrationRig {
  readonly src: TestNode;
  readonly dst: TestNode;
  readonly ns: string;
  readonly R = 10 + Math.floor(Math.random() * 240);
  readonly hostIf: string;
  readonly destAddr: string;
  readonly dir: string;
  private sshd?: ChildProcess;
  private backSshd?: ChildProcess;

  /** DEST's CRIU: opts.destCriu, else the source's ($VZKIT_CRIU), else vzkit's default. */
  readonly destCriu?: string;
  /** More environment for vzkit on DEST (sshd SetEnv), e.g. a VZKIT_CRIU wrapper of a test's own. */
  private readonly destEnv: Record<string, string>;

  constructor(extraConfig = '', opts: { destCriu?: string; destEnv?: Record<string, string> } = {}) {
    this.destCriu = opts.destCriu ?? process.env.VZKIT_CRIU;
    this.destEnv = opts.destEnv ?? {};
    this.src = new TestNode(extraConfig);
    // The same uid pool on both nodes, as two nodes set up alike have: slot N is the same host
    // range on each, so a migration into a node whose same slot is taken can be tested.
    this.dst = new TestNode(extraConfig, { idmapBase: this.src.idmapBase });
    this.ns = `${this.dst.node}ns`;
    this.hostIf = `${this.dst.node}h`;
    this.destAddr = `198.19.${this.R}.2`;
    this.dir = path.join(this.dst.dir, 'ssh');
  }

  /** A /24 of the test's own for containers: routed addresses 198.18.R.x. */
  ctAddr(host: number): string {
    return `198.18.${this.R}.${host}`;
  }

  fences(): string[] {
    return [`198.18.${this.R}.0/24`, `198.19.${this.R}.0/24`];
  }

  setup(): void {
    for (const f of this.fences()) sh('ip', ['route', 'add', 'unreachable', f]);
    must('ip', ['netns', 'add', this.ns]);
    must('ip', ['link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns]);
    must('ip', ['addr', 'add', `198.19.${this.R}.1/30`, 'dev', this.hostIf]);
    must('ip', ['link', 'set', this.hostIf, 'up']);
    const inNs = (args: string[]) => must('ip', ['-n', this.ns, ...args]);
    inNs(['link', 'set', 'lo', 'up']);
    inNs(['addr', 'add', `${this.destAddr}/30`, 'dev', 'eth0']);
    inNs(['link', 'set', 'eth0', 'up']);
    // DEST reaches the source's containers' range through the link (for the answers).
    inNs(['route', 'add', 'default', 'via', `198.19.${this.R}.1`]);
    fs.mkdirSync(this.dir, { mode: 0o700 });
    must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(this.dir, 'host_key')]);
    must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(this.dir, 'client_key')]);
    fs.copyFileSync(path.join(this.dir, 'client_key.pub'), path.join(this.dir, 'authorized_keys'));
    const hostKey = fs.readFileSync(path.join(this.dir, 'host_key.pub'), 'utf8');
    fs.writeFileSync(path.join(this.dir, 'known_hosts'), `${this.destAddr} ${hostKey}${this.srcAddr} ${hostKey}`);
    fs.writeFileSync(path.join(this.dir, 'sshd_config'), this.sshdConfig(this.destAddr, 'sshd.pid', this.dst.configFile));
    fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation dir
    // nsenter (not ip netns exec): only the network namespace changes, mounts stay the host's.
    this.sshd = spawn('nsenter', [`--net=/var/run/netns/${this.ns}`, '/usr/sbin/sshd', '-D', '-e', '-f', path.join(this.dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    this.sshd.stderr!.on('data', (d) => (log += d));
    if (!waitFor(() => this.ssh(['true']).status === 0, 10_000)) throw new Error(`sshd in ${this.ns} did not come up: ${log}`);
  }

  /** The source node's address as DEST sees it (the host end of the link). */
  get srcAddr(): string {
    return `198.19.${this.R}.1`;
  }

  /**
   * The way back: an sshd in the host's namespace on the link's host end, with the source node's
   * config, so a vzmigrate run on DEST (fromDest) can move a container back to the source.
   */
  setupBack(): void {
    fs.writeFileSync(path.join(this.dir, 'sshd_back_config'), this.sshdConfig(this.srcAddr, 'sshd-back.pid', this.src.configFile));
    this.backSshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(this.dir, 'sshd_back_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    this.backSshd.stderr!.on('data', (d) => (log += d));
    const probe = () => this.fromDest('ssh', [...this.sshOptions().split(' '), '-o', 'BatchMode=yes', `root@${this.srcAddr}`, 'true']).status === 0;
    if (!waitFor(probe, 10_000)) throw new Error(`sshd on ${this.srcAddr} did not come up: ${log}`);
  }

  /** A command in DEST's network namespace with DEST's config (vzmigrate of DEST's containers). */
  fromDest(cmd: string, args: string[], timeout = 300_000) {
    return spawnSync('nsenter', [`--net=/var/run/netns/${this.ns}`, cmd, ...args], { encoding: 'utf8', env: this.dst.env, timeout });
  }

  private sshdConfig(listen: string, pidFile: string, vzkitConfig: string): string {
    return [
        `ListenAddress ${listen}`,
        'Port 22',
        `HostKey ${path.join(this.dir, 'host_key')}`,
        `PidFile ${path.join(this.dir, pidFile)}`,
        `AuthorizedKeysFile ${path.join(this.dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'AllowTcpForwarding yes',
        'MaxSessions 50',
        'MaxStartups 50',
        // A session whose client was killed with its namespace gone would otherwise wait forever.
        'ClientAliveInterval 2',
        'ClientAliveCountMax 3',
        // DEST runs the same CRIU build as the source when a test names one (VZKIT_CRIU), or its own,
        // plus the test's own environment for DEST (destEnv, which wins).
        `SetEnv VZKIT_CONFIG=${vzkitConfig}${Object.entries({ ...(this.destCriu ? { VZKIT_CRIU: this.destCriu } : {}), ...this.destEnv }).map(([k, v]) => ` ${k}=${v}`).join('')}`,
        '',
      ].join('\n');
  }

  sshOptions(): string {
    return `-i ${path.join(this.dir, 'client_key')} -o UserKnownHostsFile=${path.join(this.dir, 'known_hosts')} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes`;
  }

  ssh(argv: string[]) {
    return spawnSync('ssh', [...this.sshOptions().split(' '), '-o', 'BatchMode=yes', `root@${this.destAddr}`, ...argv], { encoding: 'utf8', timeout: 20_000 });
  }

  /** Pings from DEST's namespace. */
  pingFromDest(addr: string): boolean {
    return sh('ip', ['netns', 'exec', this.ns, 'busybox', 'ping', '-c1', '-W2', addr]).status === 0;
  }

  private killNamespace(): void {
    let ino: number;
    try {
      ino = fs.statSync(`/var/run/netns/${this.ns}`).ino;
    } catch {
      return;
    }
    for (let round = 0; round < 3; round++) {
      let found = 0;
      for (const d of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
        try {
          if (fs.statSync(`/proc/${d}/ns/net`).ino === ino && Number(d) !== process.pid) {
            process.kill(Number(d), 'SIGKILL');
            found++;
          }
        } catch {}
      }
      if (!found) return;
      spawnSync('sleep', ['0.1']);
    }
  }

  close(): void {
    this.sshd?.kill('SIGTERM');
    this.backSshd?.kill('SIGTERM');
    // Sessions of the test's sshd (their own processes) go too.
    for (const f of ['sshd.pid', 'sshd-back.pid']) {
      const pid = (() => {
        try {
          return Number(fs.readFileSync(path.join(this.dir, f), 'utf8'));
        } catch {
          return 0;
        }
      })();
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
    this.sshd?.kill('SIGKILL');
    this.backSshd?.kill('SIGKILL');
    // Everything still in DEST's namespace: sshd's sessions (a SIGKILLed vzmigrate leaves them),
    // CRIU page servers, receive-side processes. Found by their network namespace.
    this.killNamespace();
    this.dst.cleanup();
    this.src.cleanup();
    sh('ip', ['netns', 'del', this.ns]);
    if (fs.existsSync(`/sys/class/net/${this.hostIf}`)) sh('ip', ['link', 'del', this.hostIf]);
    for (const f of this.fences()) sh('ip', ['route', 'del', 'unreachable', f]);
  }
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/**
 * Runs vzmigrate; when `stage` begins and `afterMs` passed, `act` runs with vzmigrate's pid.
 */
export function migrateWith(rig: MigrationRig, args: string[], stage: string | undefined, afterMs: number, act: (pid: number) => void, env: NodeJS.ProcessEnv = {}): Promise<Run & { acted: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(path.join(REPO, 'dist/vzmigrate'), [`--ssh=${rig.sshOptions()}`, ...args], { env: { ...rig.src.env, ...env } });
    let out = '';
    let err = '';
    let acted = false;
    child.stdout.on('data', (d) => {
      out += d;
      if (stage && !acted && out.includes(`Stage: ${stage}\n`)) {
        acted = true;
        setTimeout(() => act(child.pid!), afterMs);
      }
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code, signal) => resolve({ code, signal, out, err, acted }));
  });
}

/** Kills every ssh below pid (vzmigrate's connections to DEST). */
export function killSshBelow(pid: number): void {
  for (const p of descendants(pid)) {
    try {
      if (fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'ssh') process.kill(p, 'SIGKILL');
    } catch {}
  }
}
