import type { Verb } from './verb.js';

export const exec: Verb = {
  command: 'exec <ctid> [command..]',
  describe: "Run a command inside a running container; its exit code is vzctl's",
  builder: (y) => y.positional('ctid', { type: 'string' }).positional('command', { type: 'string', array: true }),
  async run(args, svc) {
    const ctid = svc.resolve(String(args.ctid));
    const argv = [...((args.command as string[] | undefined) ?? []), ...((args['--'] as string[] | undefined) ?? [])].map(String);
    return svc.exec(ctid, argv);
  },
};

export const enter: Verb = {
  command: 'enter <ctid>',
  describe: 'Open an interactive shell inside a running container (on a pty)',
  builder: (y) => y.positional('ctid', { type: 'string' }),
  async run(args, svc) {
    return svc.enter(svc.resolve(String(args.ctid)));
  },
};

export const console: Verb = {
  command: 'console <ctid>',
  describe: "Attach to a container's console; press Esc then . to detach",
  builder: (y) => y.positional('ctid', { type: 'string' }),
  async run(args, svc) {
    return svc.console(svc.resolve(String(args.ctid)));
  },
};
