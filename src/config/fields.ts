/**
 * Table-driven validation of a YAML mapping with `file:line:` errors, for the files that are
 * not plain param maps (global config, OS templates). Field parsers throw ordinary VzErrors;
 * this turns them into INVALID_CONFIG located at the key. An INVALID_CONFIG error is
 * taken as already located (nested readFields / parseParams) and passes through as is.
 */
import { VzError } from '../base/errors.js';
import type { YamlDoc } from './yamlfile.js';

export type FieldParsers = Record<string, (raw: unknown) => unknown>;

/** "file:line" for a key path, or just "file" when the key isn't in the file. */
export function locate(doc: Pick<YamlDoc, 'file' | 'lineOf'>, keyPath: string): string {
  const line = doc.lineOf(keyPath);
  return line === undefined ? doc.file : `${doc.file}:${line}`;
}

export function configError(doc: Pick<YamlDoc, 'file' | 'lineOf'>, keyPath: string, message: string, cause?: unknown): VzError {
  const hint = cause instanceof VzError ? cause.hint : undefined;
  return new VzError('INVALID_CONFIG', `${locate(doc, keyPath)}: ${message}`, { hint, cause });
}

export function joinPath(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`;
}

export function readFields(
  doc: Pick<YamlDoc, 'file' | 'lineOf'>,
  obj: Record<string, unknown>,
  fields: FieldParsers,
  prefix = '',
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    const path = joinPath(prefix, key);
    const parse = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (parse === undefined) throw configError(doc, path, `unknown key "${path}"`);
    try {
      out[key] = parse(value);
    } catch (e) {
      if (!(e instanceof VzError) || e.code === 'INVALID_CONFIG') throw e;
      throw configError(doc, path, e.message, e);
    }
  }
  return out;
}

export function requireKeys(doc: Pick<YamlDoc, 'file' | 'lineOf'>, obj: Record<string, unknown>, keys: string[], prefix = ''): void {
  for (const key of keys) {
    if (obj[key] === undefined) throw configError(doc, prefix, `missing required key "${joinPath(prefix, key)}"`);
  }
}
