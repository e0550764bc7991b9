import type { Verb } from './verb.js';
import { renderTable } from './table.js';
import { VzError } from '../base/errors.js';

export const template: Verb = {
  command: 'template <action> [name]',
  describe: 'OS template caches: build NAME [--rebuild], list, remove NAME',
  builder: (y) =>
    y
      .positional('action', { type: 'string', choices: ['build', 'list', 'remove'] })
      .positional('name', { type: 'string', describe: 'OS template (templates/os/NAME.yaml)' })
      .option('rebuild', { type: 'boolean', describe: 'build again even when cached (the old cache stays usable meanwhile)' }),
  async run(args, svc, out) {
    const name = args.name as string | undefined;
    if (args.action === 'list') {
      const rows = svc.templates();
      out.result(rows, () =>
        renderTable(rows, [
          { header: 'NAME', get: (r) => r.name },
          { header: 'CACHED', get: (r) => (r.cached ? 'yes' : r.stale ? 'stale' : 'no') },
          { header: 'BUILT', get: (r) => r.built_at?.replace(/\.\d+Z$/, 'Z') ?? '-' },
          { header: 'BUILD', get: (r) => r.build },
          { header: 'DESCRIPTION', get: (r) => r.description },
        ]),
      );
      return 0;
    }
    if (!name) throw new VzError('SYNTAX', `template ${String(args.action)} needs a template NAME`);
    if (args.action === 'remove') {
      const r = svc.removeTemplate(name);
      out.result(r, () => (r.removed ? `Template cache ${name} removed` : `Template ${name} had no cache`));
      return 0;
    }
    const r = await svc.buildTemplate(name, Boolean(args.rebuild));
    out.result(r, () => (r.built ? `Template cache ${name} built in ${(r.ms / 1000).toFixed(1)} s` : `Template cache ${name} is already built (--rebuild builds it again)`));
    return 0;
  },
};
