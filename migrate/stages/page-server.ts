/**
 * Stage "page server" (online): DEST starts a CRIU page server, and a local port is forwarded to
 * it over the master connection (the dump streams the pages there). The restore's session on DEST
 * is opened now too and waits for its request on stdin: SSH's session set-up and node's start-up
 * are not paid while the container is frozen. Its undo cancels that session.
 */
import net from 'node:net';
import type { Stage } from '../stages.js';
import { MigExit } from '../errors.js';
import { remoteCommand } from '../resolve.js';
import { parseAnswer, receiveArgv } from '../protocol.js';
import type { Migration, RestoreSession } from './migration.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function openRestoreSession(m: Migration): RestoreSession {
  const child = m.ssh.spawn(receiveArgv(remoteCommand(), 'restore', m.ctid));
  // Resolved by DEST's answer line as soon as it comes (not by the session's end, which
  // follows while the container would count as frozen), or by the end without one.
  const out = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => {
      stdout += d;
      if (stdout.endsWith('\n') && parseAnswer(stdout)) resolve({ code: 0, stdout, stderr });
    });
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? 255, stdout, stderr }));
  });
  child.stdin!.on('error', () => {}); // a dead session shows in its exit, not as EPIPE here
  return { child, out };
}

export function pageServer(m: Migration): Stage {
  return {
    name: 'page server',
    run: async () => {
      m.localPort = await freePort();
      const rport = 20000 + Math.floor(Math.random() * 30000);
      m.remote('page-server', { port: rport }, MigExit.CHECKPOINT);
      // criu dump talks to 127.0.0.1:localPort; the master connection carries it to DEST.
      m.ssh.forward(m.localPort, rport);
      m.pending = openRestoreSession(m);
    },
    undo: () => {
      // Without {"go":true} the receiving side does nothing (receive.ts).
      m.pending?.child.stdin!.end('{}\n');
    },
  };
}
