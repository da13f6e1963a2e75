#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Python module as users install it, away from the source tree:
#   1. pip install ./bindings/python (distribution kio-uring) into a
#      private --target directory;
#   2. meson install into a private DESTDIR (the site directory of the prefix).
# Each copy is imported by a python3 started elsewhere, with no KIO_LIBRARY:
# it must find libkio.so.0 by its SONAME (here through LD_LIBRARY_PATH, as
# ldconfig's cache would on an installed system) and run a NOP.
#
#   check-python-install.sh SOURCE_ROOT BUILD_DIR LIB_DIR MESON PYTHON
set -euo pipefail

root=$1 builddir=$2 libdir=$3 meson=$4 python=$5
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-pyinstall.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
unset KIO_LIBRARY PYTHONPATH
export PYTHONDONTWRITEBYTECODE=1

die() {
  echo "FAIL: $*"
  exit 1
}

probe='
import kio, os
ctx = kio.Context()
done = []
ctx.nop(lambda res, flags: done.append(res))
ctx.run()
ctx.close()
assert done == [0], done
print("imported", kio.__file__, "library", kio.lib._name, "nop", done[0])
'

# 1. pip. Offline and without build isolation: setuptools and wheel must be installed.
if ! "$python" -m pip --version >/dev/null 2>&1 || ! "$python" -c 'import setuptools, wheel' 2>/dev/null; then
  echo "pip, setuptools or wheel missing for $python (python3-pip, python3-setuptools, python3-wheel): skipped"
  exit 77
fi
# From a copy: setuptools writes build/ and *.egg-info beside the sources.
mkdir -p "$tmp/src"
cp "$root/bindings/python/pyproject.toml" "$root/bindings/python/README.md" \
  "$root/bindings/python/kio.py" "$root/bindings/python/kio_asyncio.py" "$tmp/src/"
if ! "$python" -m pip install --quiet --no-index --no-build-isolation --no-deps \
  --break-system-packages --target "$tmp/site" "$tmp/src" >"$tmp/pip.log" 2>&1; then
  cat "$tmp/pip.log"
  die "pip install ./bindings/python failed"
fi
ls "$tmp/site" | grep -q '^kio_uring-0\.4\.0\.dist-info$' ||
  die "pip installed no kio_uring 0.4.0 distribution: $(ls "$tmp/site")"
out=$(cd "$tmp" && LD_LIBRARY_PATH=$libdir PYTHONPATH=$tmp/site "$python" -c "$probe" 2>&1) ||
  die "the pip-installed module failed: $out"
echo "pip: $out"
case "$out" in
  *"$tmp/site/kio.py"*"library libkio.so.0 nop 0"*) ;;
  *) die "the pip-installed module did not load libkio.so.0 by its SONAME" ;;
esac

# 2. meson install.
if ! "$meson" install -C "$builddir" --destdir "$tmp/root" --no-rebuild --quiet >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  die "meson install failed"
fi
mod=$(find "$tmp/root" -name kio.py -path '*-packages/*' | head -n 1)
[ -n "$mod" ] || die "meson install put no kio.py in a site directory"
[ -f "$(dirname "$mod")/kio_asyncio.py" ] || die "meson install put no kio_asyncio.py beside kio.py"
out=$(cd "$tmp" && LD_LIBRARY_PATH=$libdir PYTHONPATH=$(dirname "$mod") "$python" -c "$probe" 2>&1) ||
  die "the meson-installed module failed: $out"
echo "meson install: $out"
echo "check-python-install: OK"
