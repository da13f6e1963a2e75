#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The exported ABI has three descriptions that must never drift apart:
#   (a) the kio_* functions libkio.so actually exports,
#   (b) the functions the public headers mark KIO_API,
#   (c) the global symbols of the version script.
# This fails unless the three lists are identical, the library exports nothing
# but kio_* functions (the version node's ABS symbol aside), every export is
# bound to a node of the map, and the SONAME is libkio.so.0.
#
#   check-symbols.sh LIBRARY MAPFILE HEADER...
set -euo pipefail

EXPECTED_SONAME=libkio.so.0

if [ "$#" -lt 3 ]; then
  echo "usage: $0 LIBRARY MAPFILE HEADER..." >&2
  exit 2
fi
lib=$1
map=$2
shift 2

for f in "$lib" "$map" "$@"; do
  [ -r "$f" ] || { echo "check-symbols: cannot read $f" >&2; exit 2; }
done
for tool in nm readelf awk sort comm; do
  command -v "$tool" >/dev/null || { echo "check-symbols: $tool not found" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-abi-symbols.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
problem() {
  echo "FAIL: $*"
  fail=1
}

# Removes /* */ and // comments (also when they span lines) and preprocessor
# lines, so a KIO_API that only appears in a comment or a #define is not read
# as a declaration.
strip_c() {
  awk '
    {
      line = $0; out = ""
      while (length(line) > 0) {
        if (in_comment) {
          p = index(line, "*/")
          if (p == 0) { line = ""; break }
          line = substr(line, p + 2); in_comment = 0
          continue
        }
        p = index(line, "/*"); q = index(line, "//")
        if (q > 0 && (p == 0 || q < p)) { out = out substr(line, 1, q - 1); line = ""; break }
        if (p == 0) { out = out line; line = ""; break }
        out = out substr(line, 1, p - 1) " "
        line = substr(line, p + 2); in_comment = 1
      }
      if (out ~ /^[ \t]*#/) {
        # a directive continued with a backslash swallows the next line too
        cont = (out ~ /\\$/)
        next
      }
      if (cont) { cont = (out ~ /\\$/); next }
      print out
    }' "$@"
}

# (a) the library: every defined dynamic symbol, as "TYPE NAME VERSION".
# nm prints versioned names as name@@NODE (default) or name@NODE (hidden).
nm -D --defined-only "$lib" |
  awk 'NF >= 2 {
         name = $NF; type = $(NF - 1); ver = ""
         p = index(name, "@")
         if (p > 0) { ver = substr(name, p); sub(/^@+/, "", ver); name = substr(name, 1, p - 1) }
         print type, name, ver
       }' >"$tmp/dynsym"

# (c) the version script: node names and the symbols of each global: section.
strip_c "$map" | tr '\n' ' ' |
  awk '{
         gsub(/[{};:]/, " & ")
         for (i = 1; i <= NF; i++) {
           t = $i
           if (t == "{") { if (depth++ == 0 && prev != "") node[prev] = 1; mode = "" }
           else if (t == "}") { depth--; mode = "" }
           else if (t == ":" || t == ";") { }
           else if (depth == 0) prev = t
           else if (t == "global" && $(i + 1) == ":") mode = "global"
           else if (t == "local" && $(i + 1) == ":") mode = "local"
           else if (mode == "global") print "sym", t
         }
         for (n in node) print "node", n
       }' >"$tmp/mapparse"
awk '$1 == "sym" { print $2 }' "$tmp/mapparse" | sort >"$tmp/map.all"
sort -u "$tmp/map.all" >"$tmp/map"
awk '$1 == "node" { print $2 }' "$tmp/mapparse" | sort -u >"$tmp/nodes"

# (b) the headers: the identifier before the first "(" of every statement
# that contains the word KIO_API.
strip_c "$@" | tr '\n' ' ' | tr ';' '\n' |
  awk '{
         p = match($0, /(^|[^A-Za-z0-9_])KIO_API[^A-Za-z0-9_]/)
         if (p == 0) next
         decl = substr($0, p)
         q = index(decl, "(")
         if (q == 0) { print "?" decl; next }
         head = substr(decl, 1, q - 1)
         sub(/[ \t]+$/, "", head)
         if (match(head, /[A-Za-z_][A-Za-z0-9_]*$/)) print substr(head, RSTART)
         else print "?" decl
       }' | sort >"$tmp/hdr.all"
sort -u "$tmp/hdr.all" >"$tmp/hdr"

# Sanity of each list on its own.
if [ ! -s "$tmp/dynsym" ]; then problem "$lib exports no symbols at all"; fi
if [ ! -s "$tmp/nodes" ]; then problem "$map defines no version node"; fi
if [ ! -s "$tmp/map" ]; then problem "$map lists no global symbol"; fi
if [ ! -s "$tmp/hdr" ]; then problem "no KIO_API declaration found in the headers"; fi
while read -r d; do problem "$map: symbol listed twice: $d"; done < <(uniq -d "$tmp/map.all")
while read -r d; do problem "headers: KIO_API function declared twice: $d"; done < <(uniq -d "$tmp/hdr.all")
while read -r s; do
  problem "$map: global entry '$s' is a pattern or not a kio_ name: list symbols one by one"
done < <(grep -v '^kio_[A-Za-z0-9_]*$' "$tmp/map" || true)
while read -r s; do
  problem "headers: cannot read a function name out of a KIO_API declaration: ${s#\?}"
done < <(grep '^?' "$tmp/hdr" || true)
while read -r s; do problem "headers: KIO_API function without the kio_ prefix: $s"; done \
  < <(grep -v '^?' "$tmp/hdr" | grep -v '^kio_' || true)

# Every export must be a kio_* function bound to a node of the map; the only
# other thing allowed is the node's own ABS symbol.
: >"$tmp/lib"
unversioned=""
while read -r type name ver; do
  if [ "$type" = A ] && grep -qxF "$name" "$tmp/nodes"; then
    continue
  fi
  case "$name" in
    kio_*)
      if [ "$type" != T ]; then
        problem "$lib exports $name with nm type '$type': only functions (T) may be exported"
      fi
      if [ -z "$ver" ]; then
        unversioned="$unversioned $name"
      elif ! grep -qxF "$ver" "$tmp/nodes"; then
        problem "$lib exports $name in version node $ver, which $map does not define"
      fi
      echo "$name" >>"$tmp/lib"
      ;;
    *)
      problem "$lib exports a symbol outside the kio_ namespace: $name (nm type '$type')"
      ;;
  esac
done <"$tmp/dynsym"
if [ -n "$unversioned" ]; then
  problem "exported without a symbol version (is the version script applied?):$unversioned"
fi
sort -u -o "$tmp/lib" "$tmp/lib"

compare() { # NAME_A FILE_A NAME_B FILE_B
  local only
  only=$(comm -23 "$2" "$4")
  [ -z "$only" ] || problem "in $1 but not in $3: $(tr "\n" " " <<<"$only")"
  only=$(comm -13 "$2" "$4")
  [ -z "$only" ] || problem "in $3 but not in $1: $(tr "\n" " " <<<"$only")"
}
compare "the library" "$tmp/lib" "the headers" "$tmp/hdr"
compare "the library" "$tmp/lib" "the map" "$tmp/map"
compare "the headers" "$tmp/hdr" "the map" "$tmp/map"

soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
if [ "$soname" != "$EXPECTED_SONAME" ]; then
  problem "SONAME is '${soname:-<none>}', expected $EXPECTED_SONAME"
fi

echo "library exports $(wc -l <"$tmp/lib") kio_* functions; headers declare $(wc -l <"$tmp/hdr");" \
  "map lists $(wc -l <"$tmp/map") in node(s) $(tr '\n' ' ' <"$tmp/nodes"); SONAME ${soname:-<none>}"
if [ "$fail" -ne 0 ]; then
  echo "check-symbols: FAILED"
  exit 1
fi
echo "check-symbols: OK"
