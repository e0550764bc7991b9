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
