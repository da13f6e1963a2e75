#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Checks the man pages under man/ against the public headers:
#  (a) every kio_* function declared in include/kio/*.h is named in the NAME
#      section of some page;
#  (b) every page passes `mandoc -Tlint -W warning` silently (alias pages,
#      which only hold a .so request, pass `-W error`);
#  (c) every page that is not an alias has the nine sections NAME, SYNOPSIS,
#      DESCRIPTION, RETURN VALUE, ERRORS, THREAD SAFETY, EXAMPLE, SEE ALSO,
#      HISTORY, in that order, none of them empty;
#  (d) every name in a NAME section has its own file (page or alias), every
#      alias points at a page that names it, and man/meson.build installs
#      every file.
#
# Usage: check-man.sh SOURCE_ROOT [MANDOC]
# Without MANDOC the lint step cannot run: the other checks still do, and the
# script exits 77 (skipped) if they pass.

set -u

root=${1:?usage: check-man.sh SOURCE_ROOT [MANDOC]}
mandoc=${2:-}
man=$root/man
fail=0

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

err() {
  printf 'check-man: %s\n' "$*" >&2
  fail=1
}

if [ ! -d "$man" ] || [ ! -d "$root/include/kio" ]; then
  echo "check-man: $root does not look like the kio source tree" >&2
  exit 1
fi

# A page is an alias when, comments aside, it is a single .so request.
is_alias() {
  grep -v '^\.\\"' "$1" | grep -q '^\.so '
}

find "$man" -type f \( -name '*.[1-9]' \) | LC_ALL=C sort >"$tmp/files"
: >"$tmp/pages"
: >"$tmp/aliases"
while IFS= read -r f; do
  if is_alias "$f"; then
    echo "$f" >>"$tmp/aliases"
  else
    echo "$f" >>"$tmp/pages"
  fi
done <"$tmp/files"
if [ ! -s "$tmp/pages" ]; then
  echo "check-man: no man page found under $man" >&2
  exit 1
fi

# Every file starts with the licence line, like every other file of kio.
while IFS= read -r f; do
  head -n 1 "$f" | grep -q '^\.\\" SPDX-License-Identifier: ' ||
    err "${f#"$root"/}: first line is not the SPDX comment"
done <"$tmp/files"

# --- (a) functions of the headers vs NAME sections --------------------------

# Names declared as functions: comments removed, then `kio_xxx(`. Function
# pointer typedefs (`(*kio_cb)(`) do not match.
awk '
{
  line = $0; out = ""
  while (line != "") {
    if (incomment) {
      i = index(line, "*/")
      if (i == 0) { line = ""; break }
      line = substr(line, i + 2); incomment = 0
    } else {
      i = index(line, "/*"); j = index(line, "//")
      if (j > 0 && (i == 0 || j < i)) { out = out substr(line, 1, j - 1); break }
      if (i == 0) { out = out line; break }
      out = out substr(line, 1, i - 1) " "
      line = substr(line, i + 2); incomment = 1
    }
  }
  print out
}' "$root"/include/kio/*.h |
  grep -o 'kio_[a-z0-9_]*[[:space:]]*(' | sed 's/[[:space:]]*($//' |
  LC_ALL=C sort -u >"$tmp/declared"
if [ ! -s "$tmp/declared" ]; then
  echo "check-man: found no kio_* function in $root/include/kio/*.h" >&2
  exit 1
fi

# NAME section: the text between `.SH NAME` and the next `.SH`, up to `\-`.
# Prints "page name" for each name.
name_list() {
  awk -v page="$1" '
  /^\.SH/ { insec = ($0 ~ /^\.SH[ \t]+"?NAME"?[ \t]*$/); next }
  insec && !/^\./ { text = text " " $0 }
  END {
    i = index(text, "\\-")
    if (i == 0) { print page " -" ; exit }
    text = substr(text, 1, i - 1)
    gsub(/\\f[BIRP]/, "", text); gsub(/\\&/, "", text)
    n = split(text, w, /[ ,]+/)
    for (k = 1; k <= n; k++) if (w[k] != "") print page " " w[k]
  }' "$1"
}

: >"$tmp/named"
while IFS= read -r f; do
  name_list "$f" >>"$tmp/named"
done <"$tmp/pages"
awk '$2 == "-" { print $1 }' "$tmp/named" | while IFS= read -r f; do
  echo "check-man: ${f#"$root"/}: NAME section missing or without \"\\-\"" >&2
done
if awk '$2 == "-" { found = 1 } END { exit !found }' "$tmp/named"; then
  fail=1
fi
awk '$2 != "-" { print $2 }' "$tmp/named" | LC_ALL=C sort -u >"$tmp/names"

LC_ALL=C comm -23 "$tmp/declared" "$tmp/names" >"$tmp/missing"
if [ -s "$tmp/missing" ]; then
  err "functions declared in include/kio/*.h but named by no man page:" \
    "$(tr '\n' ' ' <"$tmp/missing")"
fi
LC_ALL=C comm -13 "$tmp/declared" "$tmp/names" | grep '^kio_' >"$tmp/extra"
if [ -s "$tmp/extra" ]; then
  err "man pages name functions the headers do not declare:" \
    "$(tr '\n' ' ' <"$tmp/extra")"
fi

# Each page's NAME lists its own file name first.
while IFS= read -r f; do
  base=${f##*/}
  first=$(awk -v p="$f" '$1 == p { print $2; exit }' "$tmp/named")
  [ "$first" = "${base%.*}" ] ||
    err "${f#"$root"/}: NAME starts with \"$first\", not \"${base%.*}\""
done <"$tmp/pages"

# --- (b) lint ----------------------------------------------------------------

lint_ran=0
if [ -n "$mandoc" ]; then
  lint_ran=1
  while IFS= read -r f; do
    out=$("$mandoc" -Tlint -W warning "$f" 2>&1)
    rc=$?
    if [ -n "$out" ] || [ "$rc" -ne 0 ]; then
      err "${f#"$root"/}: mandoc -Tlint -W warning (exit $rc):"
      printf '%s\n' "$out" >&2
    fi
  done <"$tmp/pages"
  # .so paths are relative to the top of the manual tree: lint from there.
  while IFS= read -r f; do
    rel=${f#"$man"/}
    out=$(cd "$man" && "$mandoc" -Tlint -W error "$rel" 2>&1)
    rc=$?
    if [ -n "$out" ] || [ "$rc" -ne 0 ]; then
      err "${f#"$root"/}: mandoc -Tlint -W error (exit $rc):"
      printf '%s\n' "$out" >&2
    fi
  done <"$tmp/aliases"
fi

# --- (c) sections --------------------------------------------------------------

required='NAME
SYNOPSIS
DESCRIPTION
RETURN VALUE
ERRORS
THREAD SAFETY
EXAMPLE
SEE ALSO
HISTORY'

while IFS= read -r f; do
  rel=${f#"$root"/}
  # "heading<TAB>number of content lines" for each .SH, in order.
  awk '
  /^\.SH/ {
    if (h != "") print h "\t" n
    h = $0; sub(/^\.SH[ \t]*/, "", h); gsub(/"/, "", h); n = 0; next
  }
  /^\.\\"/ { next }
  # Layout requests alone do not make a section.
  /^\.(PP|P|LP|sp|br|nf|fi|in|RS|RE)([ \t].*)?$/ { next }
  h != "" && $0 != "" { n++ }
  END { if (h != "") print h "\t" n }' "$f" >"$tmp/sections"
  missing=$(printf '%s\n' "$required" | while IFS= read -r s; do
    awk -F '\t' -v s="$s" '$1 == s { found = 1 } END { exit !found }' \
      "$tmp/sections" || printf '"%s" ' "$s"
  done)
  if [ -n "$missing" ]; then
    err "$rel: missing section(s) $missing"
    continue
  fi
  order=$(awk -F '\t' -v req="$required" '
    BEGIN { n = split(req, r, "\n"); for (i = 1; i <= n; i++) want[r[i]] = 1 }
    $1 in want { print $1 }' "$tmp/sections")
  [ "$order" = "$required" ] ||
    err "$rel: sections out of order or repeated:" \
      "$(printf '%s' "$order" | tr '\n' ',')"
  awk -F '\t' '$2 == 0 { print $1 }' "$tmp/sections" | while IFS= read -r s; do
    echo "check-man: $rel: section \"$s\" is empty" >&2
  done
  if awk -F '\t' '$2 == 0 { e = 1 } END { exit !e }' "$tmp/sections"; then
    fail=1
  fi
  grep -q '^Added in kio [0-9][0-9.]*\.$' "$f" ||
    err "$rel: HISTORY lacks \"Added in kio X.Y.Z.\""
done <"$tmp/pages"

# --- (d) aliases and installation ---------------------------------------------

# Every name of a section 3 page can be looked up: man3/NAME.3 exists.
awk '$2 != "-" && $1 ~ /\.3$/ { print $2 }' "$tmp/named" | while IFS= read -r n; do
  [ -f "$man/man3/$n.3" ] || echo "$n"
done >"$tmp/nofile"
if [ -s "$tmp/nofile" ]; then
  err "names without a man3/NAME.3 file (add an alias page):" \
    "$(tr '\n' ' ' <"$tmp/nofile")"
fi

while IFS= read -r f; do
  rel=${f#"$root"/}
  base=${f##*/}
  lines=$(grep -v '^\.\\"' "$f" | grep -c .)
  target=$(sed -n 's/^\.so[[:blank:]]*//p' "$f")
  if [ "$lines" -ne 1 ]; then
    err "$rel: an alias page holds only comments and one .so request"
    continue
  fi
  if [ ! -f "$man/$target" ] || is_alias "$man/$target"; then
    err "$rel: .so target \"$target\" is not a page under man/"
    continue
  fi
  awk -v p="$man/$target" -v n="${base%.*}" '$1 == p && $2 == n { found = 1 }
    END { exit !found }' "$tmp/named" ||
    err "$rel: \"${base%.*}\" is not in the NAME section of $target"
done <"$tmp/aliases"

if [ -f "$man/meson.build" ]; then
  while IFS= read -r f; do
    rel=${f#"$man"/}
    grep -q "'$rel'" "$man/meson.build" ||
      err "man/meson.build does not install $rel"
  done <"$tmp/files"
else
  err "man/meson.build is missing"
fi

pages=$(grep -c . "$tmp/pages")
aliases=$(grep -c . "$tmp/aliases")
functions=$(grep -c . "$tmp/declared")
if [ "$fail" -ne 0 ]; then
  echo "check-man: FAILED ($pages pages, $aliases aliases, $functions functions)" >&2
  exit 1
fi
if [ "$lint_ran" -eq 0 ]; then
  echo "check-man: mandoc not given: lint skipped; other checks passed"
  exit 77
fi
echo "check-man: ok ($pages pages, $aliases aliases, $functions functions)"
exit 0
