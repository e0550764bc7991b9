/**
 * Runs a TypeScript entry inside the test VM (test/vm) with the quota and file system modules
 * loaded (vm-modules.sh): bundles it with esbuild, boots the VM once, and returns the JSON that
 * the entry printed after `marker`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export async function runEntryInVm<T>(entry: string, args: string[], marker: string, timeoutMs = 900_000): Promise<T> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-quota-vm-'));
  try {
    const mods = spawnSync(path.join(REPO, 'test/integration/quota/vm-modules.sh'), { encoding: 'utf8', timeout: 600_000 });
    if (mods.status !== 0) throw new Error(`vm-modules.sh exited ${mods.status}: ${mods.stderr}`);
    const modDir = mods.stdout.trim().split('\n').pop()!;
    const bundle = path.join(tmp, 'entry.mjs');
    const { build } = await import('esbuild');
    await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: ['koffi'], // native: resolved through NODE_PATH from the repo's node_modules
      outfile: bundle,
      logLevel: 'warning',
    });
    const script =
      // A module the VM's /init loaded already (test/vm/build.sh: crc32c_generic, ext4...) is skipped.
      `for ko in $(cat "${modDir}/load-order"); do m=$(echo "\${ko%.ko}" | tr - _); [ -d "/sys/module/$m" ] && continue; /bin/busybox insmod "${modDir}/$ko" || { echo "insmod $ko failed" >&2; exit 120; }; done; ` +
      `VZKIT_REPO="${REPO}" NODE_PATH="${REPO}/node_modules" exec node "${bundle}" ${args.join(' ')}`;
    const r = spawnSync(path.join(REPO, 'test/vm/run.sh'), ['sh', '-c', script], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: timeoutMs,
      maxBuffer: 64 << 20,
      env: { ...process.env, VZKIT_VM_MEM: process.env.VZKIT_VM_MEM ?? '1536', VZKIT_VM_TIMEOUT: String(Math.floor(timeoutMs / 1000) - 30) },
    });
    const line = r.stdout?.split('\n').find((l) => l.startsWith(`${marker} `));
    if (r.status !== 0 || !line) throw new Error(`VM run exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
    return JSON.parse(line.slice(marker.length + 1)) as T;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
