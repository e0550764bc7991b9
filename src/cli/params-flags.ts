/** CLI flags generated from the one parameter table, so flags, YAML and stored config agree. */
import type { Argv } from 'yargs';
import { PARAMS, type ParamWhere, type RawParams } from '../config/params.js';

export function addParamFlags(y: Argv, where: ParamWhere): Argv {
  for (const p of PARAMS) {
    if (!p.where.includes(where)) continue;
    // Strings throughout: the table's parse() validates and converts, with vzctl's error messages.
    y = y.option(p.flag, { type: 'string', describe: p.describe + (p.unit ? ` (${p.unit})` : ''), requiresArg: true });
  }
  return y;
}

/** Picks the table's parameters out of parsed yargs arguments, keyed by param key. */
export function paramsFromArgs(args: Record<string, unknown>, where: ParamWhere): RawParams {
  const out: RawParams = {};
  for (const p of PARAMS) {
    if (!p.where.includes(where)) continue;
    const v = args[p.flag];
    // A repeated list flag (--ipadd A --ipadd B) keeps every value; others: the last one wins.
    if (v !== undefined) out[p.key] = Array.isArray(v) && p.type !== 'list' ? v[v.length - 1] : v;
  }
  return out;
}
