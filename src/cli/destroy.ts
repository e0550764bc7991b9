import { ctidVerb } from './verb.js';

export const destroy = ctidVerb(
  'destroy',
  'Remove a stopped container and all of its files',
  async (svc, ctid) => {
    await svc.destroy(ctid);
    return { exist: false };
  },
  ['delete'],
);
