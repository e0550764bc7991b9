/** vzctl template build/list/remove: the OS template caches of the node. */
import type { Context } from '../context.js';
import { listOsTemplates, loadOsTemplate } from '../../config/templates.js';
import { ensureTemplateCache, removeTemplateCache, templateCacheInfo } from '../../template/cache.js';

export interface TemplateInfo {
  name: string;
  description: string;
  distro: string;
  init_type: string;
  build: string;
  cached: boolean;
  stale: boolean;
  built_at: string | null;
}

export function listTemplates(ctx: Context): TemplateInfo[] {
  return listOsTemplates(ctx.cfg.templates_dir).map((name) => {
    const t = loadOsTemplate(ctx.cfg.templates_dir, name);
    const c = templateCacheInfo(ctx.cfg.paths.cache, { name, build: t.build });
    const b = t.build as { type: string; suite?: string };
    return {
      name,
      description: t.description,
      distro: t.distro,
      init_type: t.init_type,
      build: b.suite ? `${b.type} ${b.suite}` : b.type,
      cached: c.cached,
      stale: c.stale,
      built_at: c.builtAt ?? null,
    };
  });
}

export async function buildTemplate(ctx: Context, name: string, rebuild: boolean): Promise<{ name: string; built: boolean; ms: number }> {
  const t = loadOsTemplate(ctx.cfg.templates_dir, name); // a bad YAML fails here, before any download
  const before = templateCacheInfo(ctx.cfg.paths.cache, { name, build: t.build });
  if (before.cached && !rebuild) return { name, built: false, ms: 0 };
  const t0 = Date.now();
  ctx.progress(`${before.cached || before.stale ? 'Rebuilding' : 'Building'} OS template cache ${name}${before.stale ? ' (its template changed)' : ''}`);
  await ensureTemplateCache(ctx.cfg.paths.cache, { name, build: t.build }, ctx.status, { rebuild });
  return { name, built: true, ms: Date.now() - t0 };
}

export function removeTemplate(ctx: Context, name: string): { name: string; removed: boolean } {
  loadOsTemplate(ctx.cfg.templates_dir, name);
  return { name, removed: removeTemplateCache(ctx.cfg.paths.cache, name) };
}
