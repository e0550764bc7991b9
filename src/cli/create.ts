import type { Verb } from './verb.js';
import { addParamFlags, paramsFromArgs } from './params-flags.js';
import { parseCtid } from '../config/ctid.js';
import { formatSize } from '../config/units.js';
import type { CreatedLimits } from '../core/ops/create.js';

/** One line: what the container may use (vzctl set changes it). */
export function formatLimits(l: CreatedLimits): string {
  const n = (v: number | null, unit = '') => (v === null ? 'unlimited' : `${v}${unit}`);
  return [
    `ram ${formatSize(l.ram)}`,
    `swap ${l.ram === null ? 'unlimited' : formatSize(l.swap)}`,
    `cpulimit ${n(l.cpulimit, '%')}`,
    `cpus ${l.cpus === null ? 'all' : l.cpus}`,
    `cpuunits ${l.cpuunits}`,
    `numproc ${n(l.numproc)}`,
    `diskspace ${formatSize(l.diskspace)}`,
  ].join(', ');
}

export const create: Verb = {
  command: 'create <ctid>',
  describe: 'Create a container from an OS template',
  builder: (y) =>
    addParamFlags(
      y
        .positional('ctid', { type: 'string', describe: 'numeric container ID' })
        .option('ostemplate', { type: 'string', describe: 'OS template (templates/os/NAME.yaml)', demandOption: true, requiresArg: true })
        .option('config', { type: 'string', describe: 'resource profile (templates/profiles/NAME.yaml)', requiresArg: true }),
      'create',
    ),
  async run(args, svc, out) {
    const ctid = parseCtid(String(args.ctid));
    const row = await svc.create({
      ctid,
      ostemplate: String(args.ostemplate),
      profile: args.config as string | undefined,
      params: paramsFromArgs(args, 'create'),
    });
    out.result(
      { ctid: row.ctid, name: row.name, ostemplate: row.ostemplate, profile: row.profile, uid_base: row.uidBase, state: 'stopped', limits: row.limits },
      () => (out.quiet ? undefined : `Limits (profile ${row.profile ?? 'none'}): ${formatLimits(row.limits)}`),
    );
    return 0;
  },
};
