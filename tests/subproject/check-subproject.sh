#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kio as a Meson subproject, the way a Meson user vendors it:
#   kio_dep = dependency('kio', fallback: ['kio', 'kio_dep'])
# A throwaway project gets this source tree as subprojects/kio (a symlink),
# is configured to use the fallback even where kio is installed, builds its
# program against the subproject and runs it. The subproject must build no
# tests, no examples and no benchmarks (tests/examples/bench are 'auto',
# which a subproject turns off).
#
#   check-subproject.sh SOURCE_ROOT MESON C_COMPILER...
# The backend does not matter to what it checks: it runs once, under
# KIO_BACKEND=io_uring or with none set, and skips (77) for the others.
set -euo pipefail

case "${KIO_BACKEND:-}" in
  '' | io_uring) ;;
  *) echo "built and checked once, under KIO_BACKEND=io_uring: skipped here"; exit 77 ;;
esac

root=$1 meson=$2
shift 2
cc=("$@")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-subproject.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

die() {
  echo "FAIL: $*"
  exit 1
}

proj=$tmp/user
mkdir -p "$proj/subprojects"
cp "$here/user-meson.build" "$proj/meson.build"
cp "$here/user.c" "$proj/user.c"
ln -s "$root" "$proj/subprojects/kio"

# --force-fallback-for: an installed kio must not satisfy dependency('kio').
# An unoptimised build: this checks the wiring, not the code.
if ! CC="${cc[0]}" "$meson" setup "$proj/build" "$proj" --buildtype=debug \
  --force-fallback-for=kio -Dkio:man=false >"$tmp/setup.log" 2>&1; then
  cat "$tmp/setup.log"
  die "meson setup of a project using kio as a subproject failed"
fi
grep -E "Subproject kio|tests|examples|benchmarks" "$tmp/setup.log" | sed 's/^/  /' || true

targets=$("$meson" introspect --targets "$proj/build") || die "meson introspect failed"
python3 - "$targets" <<'PY' || die "the subproject builds more than the library"
import json, sys
names = sorted(t['name'] for t in json.loads(sys.argv[1]))
extra = [n for n in names if n.startswith(('test_', 'cxx_', 'kio-bench', 'kio-soak', 'fuzz_'))
         or n in ('echo-server', 'echo-client', 'timers', 'kio-copy', 'cxx-echo-server')]
print('targets:', ' '.join(names))
sys.exit(1 if extra else 0)
PY
tests=$("$meson" introspect --tests "$proj/build") || die "meson introspect --tests failed"
python3 - "$tests" <<'PY' || die "the subproject registers tests"
import json, sys
names = [t['name'] for t in json.loads(sys.argv[1])]
print('tests:', ' '.join(names))
sys.exit(0 if names == ['user'] else 1)
PY

if ! ninja -C "$proj/build" >"$tmp/build.log" 2>&1; then
  tail -n 40 "$tmp/build.log"
  die "the project using kio as a subproject did not build"
fi
out=$("$proj/build/user" 2>&1) || die "the program built against the subproject failed: $out"
echo "$out"
case "$out" in
  *"nop completed"*) ;;
  *) die "the program did not complete its nop" ;;
esac
echo "check-subproject: OK"
