/**
 * A container's stored config as YAML (backups carry it; an admin can read it). Keys come out
 * sorted; the stored form is the one the parameter table parses to, so it loads back unchanged.
 */
import { dump } from 'js-yaml';

export function sortedParams(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(params)
      .filter((k) => params[k] !== undefined)
      .sort()
      .map((k) => [k, params[k]]),
  );
}

export function toYaml(doc: Record<string, unknown>): string {
  return dump(doc, { lineWidth: -1, noRefs: true, sortKeys: false });
}
