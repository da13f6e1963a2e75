#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A CMake project that uses an installed kio the way its README says:
#   find_package(kio 0.4 REQUIRED)
#   target_link_libraries(app PRIVATE kio::kio)    and kio::cxx for C++
# Installs the build into a private DESTDIR, configures the project with
# CMAKE_PREFIX_PATH pointing there, builds a C and a C++ program and runs
# them on the installed library. Also: a request for a later version than
# this one must fail, one for an earlier 0.x must succeed.
#
#   check-cmake.sh (the arguments of pkgconfig-common.sh) --cmake PROG
#                  --cxx-source FILE -- C_COMPILER -- CXX_COMPILER
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/pkgconfig-common.sh"

cmake=""
cxx_source=""
args=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --cmake) cmake=$2; shift 2 ;;
    --cxx-source) cxx_source=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ -n "$cmake" ] || usage
pc_parse_args "${args[@]}"
# compiler holds "C_COMPILER... -- CXX_COMPILER...".
cc_cmd=() cxx_cmd=() seen=0
for w in "${compiler[@]}"; do
  if [ "$w" = -- ]; then seen=1; continue; fi
  if [ "$seen" -eq 0 ]; then cc_cmd+=("$w"); else cxx_cmd+=("$w"); fi
done
pc_install kio-abi-cmake

pkg=$inst_lib/cmake/kio
[ -f "$pkg/kioConfig.cmake" ] || die "kioConfig.cmake is not installed in $libdir/cmake/kio"
[ -f "$pkg/kioConfigVersion.cmake" ] || die "kioConfigVersion.cmake is not installed"

src=$tmp/project
mkdir -p "$src"
cp "$source" "$src/user.c"
with_cxx=0
if [ -n "$cxx_source" ] && [ -f "$dest$includedir/kio/kio.hpp" ]; then
  cp "$cxx_source" "$src/user.cpp"
  with_cxx=1
fi
want=${version%.*} # 0.4
cat >"$src/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.16)
project(kio_cmake_user C CXX)
find_package(kio $want REQUIRED)
add_executable(kio-user user.c)
target_link_libraries(kio-user PRIVATE kio::kio)
if($with_cxx)
  add_executable(kio-cxx-user user.cpp)
  target_link_libraries(kio-cxx-user PRIVATE kio::cxx)
endif()
EOF

san_flags="${san[*]:-}"
configure() { # BUILD_DIR [CMAKE ARG...]
  local b=$1
  shift
  CC="${cc_cmd[0]}" CXX="${cxx_cmd[0]:-c++}" "$cmake" -S "$src" -B "$b" \
    -DCMAKE_PREFIX_PATH="$dest$prefix" -DCMAKE_C_FLAGS="$san_flags" \
    -DCMAKE_CXX_FLAGS="$san_flags" -DCMAKE_EXE_LINKER_FLAGS="$san_flags" "$@"
}
if ! configure "$tmp/b" >"$tmp/configure.log" 2>&1; then
  cat "$tmp/configure.log"
  die "cmake could not configure a project with find_package(kio $want REQUIRED)"
fi
if ! "$cmake" --build "$tmp/b" >"$tmp/build.log" 2>&1; then
  cat "$tmp/build.log"
  die "cmake could not build the kio::kio / kio::cxx programs"
fi

export LD_LIBRARY_PATH=$inst_lib
set +e
out=$("$tmp/b/kio-user" "$version" 2>&1)
rc=$?
set -e
echo "C: $out"
[ "$rc" -eq 77 ] && exit 77
[ "$rc" -eq 0 ] || die "the CMake-built C program exited with $rc"
case "$out" in
  *"kio $version: nop completed"*) ;;
  *) die "the CMake-built C program did not complete its nop" ;;
esac
if [ "$with_cxx" -eq 1 ]; then
  out=$("$tmp/b/kio-cxx-user" "$version" 2>&1) || die "the CMake-built C++ program failed: $out"
  echo "C++: $out"
  case "$out" in
    *"kio-cxx $version: task completed"*) ;;
    *) die "the CMake-built C++ program did not complete its task" ;;
  esac
fi

# Version rules: an earlier 0.x is satisfied, a later version is not.
sed -i "s/find_package(kio $want REQUIRED)/find_package(kio 0.2 REQUIRED)/" "$src/CMakeLists.txt"
configure "$tmp/b2" >"$tmp/c2.log" 2>&1 || { cat "$tmp/c2.log"; die "find_package(kio 0.2) failed"; }
sed -i "s/find_package(kio 0.2 REQUIRED)/find_package(kio 0.99 REQUIRED)/" "$src/CMakeLists.txt"
if configure "$tmp/b3" >"$tmp/c3.log" 2>&1; then
  die "find_package(kio 0.99 REQUIRED) succeeded with kio $version"
fi
echo "check-cmake: OK"
