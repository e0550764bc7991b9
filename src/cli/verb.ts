/** The shape of a CLI verb: yargs describes its syntax, `run` makes one service call and renders. */
import type { Argv } from 'yargs';
import type { ContainerService } from '../core/service.js';
import type { Output } from './output.js';

export interface Verb {
  command: string;
  aliases?: string[];
  describe: string;
  builder?: (y: Argv) => Argv;
  /** Returns the process exit code. */
  run(args: Record<string, unknown>, svc: ContainerService, out: Output): Promise<number> | number;
}

/** A verb whose only argument is a CTID (or name): resolve it, make one call, report the result. */
export function ctidVerb(
  command: string,
  describe: string,
  call: (svc: ContainerService, ctid: number) => Promise<Record<string, unknown>>,
  aliases?: string[],
): Verb {
  return {
    command: `${command} <ctid>`,
    aliases,
    describe,
    builder: (y) => y.positional('ctid', { type: 'string', describe: 'CTID or name' }),
    async run(args, svc, out) {
      const ctid = svc.resolve(String(args.ctid));
      out.result({ ctid, ...(await call(svc, ctid)) });
      return 0;
    },
  };
}
