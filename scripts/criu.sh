#!/bin/sh
# Provides CRIU >= 4 for vzkit (issue 7). Idempotent; a no-op when a working CRIU is in place.
#   1. /opt/vzkit/criu/sbin/criu (or $VZKIT_CRIU_PREFIX) already there, built with today's patches,
#      and `criu check` passes -> done.
#   2. Without patches only: Debian's criu where `criu check` passes and its version is >= 4 -> link
#      it. vzkit's patches are not optional (0002 gives restored sysinfo filters their listener
#      back: without it the default config cannot checkpoint), so with them this step is skipped.
#   3. Otherwise build 4.1.1 from Debian trixie's *source* package with bookworm's build
#      dependencies, under its own prefix. Bookworm's 3.17 fails on kernel 6.x with
#      "vdso: Unexpected rt vDSO area bounds"; trixie's binaries would pull in a newer libc, so only
#      the source is taken, through a private apt list directory (the system's apt state is untouched).
set -eu
PREFIX=${VZKIT_CRIU_PREFIX:-/opt/vzkit/criu}
say() { printf 'setup: criu: %s\n' "$*"; }

criu_ok() { # $1 = binary; CRIU >= 4 and `criu check` passes on this kernel
  [ -x "$1" ] || return 1
  v=$("$1" --version 2>/dev/null | sed -n 's/^Version: *\([0-9]*\).*/\1/p')
  [ -n "$v" ] && [ "$v" -ge 4 ] || return 1
  "$1" check >/dev/null 2>&1
}

# The patches applied to the build (scripts/criu-patches): a change of them means a rebuild.
HERE=$(cd "$(dirname "$0")" && pwd)
STAMP="$PREFIX/.vzkit-build"
want=$(cat "$HERE"/criu-patches/*.patch 2>/dev/null | sha256sum | cut -c1-16)
have_patches=$(ls "$HERE"/criu-patches/*.patch 2>/dev/null | head -1)
if criu_ok "$PREFIX/sbin/criu"; then
  # Debian's criu (a symlink) is taken as it is only while there are no patches; our build must
  # carry today's patches.
  [ -L "$PREFIX/sbin/criu" ] && [ -z "$have_patches" ] && exit 0
  [ ! -L "$PREFIX/sbin/criu" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ] && exit 0
  say "rebuilding: the patches changed"
fi
[ "$(id -u)" = 0 ] || { say "not installed and not root: run sh scripts/setup.sh as root"; exit 1; }
export DEBIAN_FRONTEND=noninteractive

# Runtime needs: nftables for --network-lock, iptables(-save) for dumping a network namespace,
# the libraries the build links.
RUN_DEPS="nftables iptables libprotobuf-c1 libnl-3-200 libnet1 libcap2 libbsd0 libgnutls30 libnftables1 libuuid1"
BUILD_DEPS="curl patch build-essential pkg-config python3 libprotobuf-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler python3-protobuf libnl-3-dev libnet1-dev libcap-dev libbsd-dev libgnutls28-dev libnftables-dev uuid-dev dpkg-dev"
missing=""
for p in $RUN_DEPS $BUILD_DEPS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  say "installing$missing"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The distribution's criu, if it is new enough and works here, and nothing needs patching.
if [ -z "$have_patches" ] && [ -x /usr/sbin/criu ] && criu_ok /usr/sbin/criu; then
  mkdir -p "$PREFIX/sbin"; ln -sfn /usr/sbin/criu "$PREFIX/sbin/criu"; say "using Debian's criu"; exit 0
fi

work=$(mktemp -d /var/tmp/vzkit-criu.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Private apt configuration: a deb-src entry for trixie only, its own lists; removed with $work.
mkdir -p "$work/lists/partial"
# apt downloads as _apt when it can reach the directory.
chmod 755 "$work"; chown -R _apt "$work/lists" 2>/dev/null || true
cat > "$work/trixie-src.list" <<'LIST'
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
LIST
APT="-o Dir::Etc::SourceList=$work/trixie-src.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$work/lists"
say "fetching trixie's criu source"
# shellcheck disable=SC2086
apt-get $APT update -qq
# shellcheck disable=SC2086
if (cd "$work" && apt-get $APT source -qq --download-only criu >/dev/null 2>&1); then
  (cd "$work" && dpkg-source -x criu_*.dsc src >/dev/null)
else
  # Some mirrors carry only the upstream tarball of the package (its .dsc and debian.tar.xz
  # answer 404): take that, checked against the SHA-256 in trixie's signed Sources index.
  # shellcheck disable=SC2086
  orig=$(apt-cache $APT showsrc criu | awk '/^Checksums-Sha256:/{f=1;next} /^[A-Z]/{f=0} f && $3 ~ /orig\.tar/{print $1, $3; exit}')
  [ -n "$orig" ] || { say "no criu source in trixie's index"; exit 1; }
  sum=${orig% *}; file=${orig#* }
  say "the source package is incomplete on this mirror: using its upstream tarball $file"
  curl -fsS -o "$work/$file" "http://deb.debian.org/debian/pool/main/c/criu/$file"
  echo "$sum  $work/$file" | sha256sum -c --quiet
  mkdir "$work/src" && tar -xf "$work/$file" -C "$work/src" --strip-components=1
fi
for p in "$HERE"/criu-patches/*.patch; do
  [ -f "$p" ] || continue
  # Fixes for kernels newer than this CRIU (Linux 6.16's SO_PASSSEC change) and what vzkit needs
  # (0002: seccomp listeners across a restore); each says why.
  patch -s -d "$work/src" -p1 < "$p"
done
say "building criu $(sed -n 's/^CRIU_VERSION_MAJOR.*= *//p; s/^CRIU_VERSION_MINOR.*= *//p; s/^CRIU_SUBLEVEL.*= *//p' "$work/src/Makefile.versions" | paste -sd.) (about 80 s on two cores)"
jobs=$(nproc 2>/dev/null || echo 2)
# A link to the distribution's criu from an older set-up: our build takes its place.
[ -L "$PREFIX/sbin/criu" ] && rm -f "$PREFIX/sbin/criu"
make -s -C "$work/src" -j"$jobs" PREFIX="$PREFIX" criu >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
make -s -C "$work/src" PREFIX="$PREFIX" SKIP_PIP_INSTALL=1 install-criu install-lib install-compel >>"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log"; exit 1; }
criu_ok "$PREFIX/sbin/criu" || { say "built criu fails 'criu check':"; "$PREFIX/sbin/criu" check || true; exit 1; }
echo "$want" > "$STAMP"
say "installed $("$PREFIX/sbin/criu" --version | head -1) in $PREFIX"
