#!/bin/sh
# The second half of `npm test`: the tests that need what these machines' kernel or root lacks
# (cgroup v2, ext4/XFS project quotas, online ext4 resize), run in the test VM (see README.md
# here). One file at a time: each vCPU under qemu's software emulation takes a whole host core,
# and the first half's timing-sensitive tests must not share the machine with it.
# VZKIT_VM_TESTS=0 skips them (e.g. on a host without the Debian archive).
set -e
if [ "${VZKIT_VM_TESTS:-1}" = 0 ]; then echo "vm tests: skipped (VZKIT_VM_TESTS=0)"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "vm tests: skipped (they need root)"; exit 0; fi
cd "$(dirname "$0")/../.."
test/vm/build.sh >/dev/null
VZKIT_V2_VM=1 VZKIT_QUOTA_VM=1 exec node node_modules/vitest/vitest.mjs run --config test/vitest.config.ts --maxWorkers=1 \
  test/integration/cgroup-v2 test/integration/quota
