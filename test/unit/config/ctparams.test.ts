import { describe, expect, expectTypeOf, it } from 'vitest';
import { mergeStored, parseParams, type CtParams, type ParamValue, type ParamValues, type RawParams } from '../../../src/config/params.js';
import { splitStored, templateInternals, type CtInternals, type OsTemplate } from '../../../src/config/templates.js';
import type { NetIf } from '../../../src/net/config.js';
import type { SoftHard } from '../../../src/config/limits.js';

describe('the container-parameter types derived from the table', () => {
  it('type each key by what its parse() returns', () => {
    expectTypeOf<ParamValue<'ram'>>().toEqualTypeOf<number | null>();
    expectTypeOf<ParamValue<'hostname'>>().toEqualTypeOf<string>();
    expectTypeOf<ParamValue<'diskspace'>>().toEqualTypeOf<SoftHard>();
    expectTypeOf<ParamValue<'devnodes'>>().toEqualTypeOf<Record<string, string>>();
    expectTypeOf<ParamValue<'layout'>>().toEqualTypeOf<'dir' | 'image'>();
    expectTypeOf<ParamValues['ioprio']>().toEqualTypeOf<number | undefined>();
    // Stored: netif in its full form.
    expectTypeOf<CtParams['netif']>().toEqualTypeOf<NetIf[] | undefined>();
    // No key outside the table, and no internal key, in either.
    expectTypeOf<'_init'>().not.toMatchTypeOf<keyof CtParams>();
    expectTypeOf<'nope'>().not.toMatchTypeOf<keyof RawParams>();
    const parsed: ParamValues = parseParams({ ram: '64M', onboot: 'yes' }, 'set');
    expect(parsed).toEqual({ ram: 64 * 1024 * 1024, onboot: true });
  });
});

describe('the node\'s own keys', () => {
  const tmpl = { init: ['/sbin/init'], init_type: 'systemd', distro: 'debian', halt_signal: 'SIGRTMIN+3', reboot_signal: 'SIGINT' } as OsTemplate;

  it('are stored with a leading "_", as before', () => {
    expect(templateInternals(tmpl)).toEqual({ _init: ['/sbin/init'], _init_type: 'systemd', _distro: 'debian', _halt_signal: 'SIGRTMIN+3', _reboot_signal: 'SIGINT' });
  });

  it('are read apart from the parameters, in their own typed field', () => {
    const { params, internal } = splitStored({ hostname: 'web', ram: null, ...templateInternals(tmpl) });
    expect(params).toEqual({ hostname: 'web', ram: null });
    expect(internal).toEqual({ init: ['/sbin/init'], init_type: 'systemd', distro: 'debian', halt_signal: 'SIGRTMIN+3', reboot_signal: 'SIGINT' });
    expectTypeOf(internal).toEqualTypeOf<CtInternals>();
    expect(splitStored({})).toEqual({ params: {}, internal: {} });
  });
});

describe('changes that merge with what is stored (the table\'s merge)', () => {
  it('devnodes: "none" removes an entry; capability and features: named settings change, others stay; the rest replaces', () => {
    const stored: CtParams = { devnodes: { null: 'rw', zero: 'r' }, capability: { net_admin: 'on' }, features: { nesting: 'on' }, ram: 1 };
    const change = parseParams({ devnodes: ['zero:none', 'full:rw'], capability: 'sys_time:on', features: 'nesting:off', ram: '8M' }, 'set');
    expect(mergeStored(change, stored)).toEqual({
      devnodes: { null: 'rw', full: 'rw' },
      capability: { net_admin: 'on', sys_time: 'on' },
      features: { nesting: 'off' },
      ram: 8 * 1024 * 1024,
    });
    expect(mergeStored({ hostname: 'a' }, stored)).toEqual({ hostname: 'a' });
  });
});
