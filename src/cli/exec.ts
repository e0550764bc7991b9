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

/** An interactive verb: the helper owns the terminal and its exit status is vzctl's. */
function attachVerb(name: 'enter' | 'console', describe: string): Verb {
  return {
    command: `${name} <ctid>`,
    describe,
    builder: (y) => y.positional('ctid', { type: 'string', describe: 'CTID or name' }),
    run: (args, svc) => svc[name](svc.resolve(String(args.ctid))),
  };
}

export const enter = attachVerb('enter', 'Open an interactive shell inside a running container (on a pty)');
export const console = attachVerb('console', "Attach to a container's console; press Esc then . to detach");
