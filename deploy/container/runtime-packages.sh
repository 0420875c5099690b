#!/usr/bin/env bash
# Prints, one per line and sorted, the Debian packages that own the shared
# libraries the given executables load (as ldd resolves them), so that a
# runtime image installs exactly what the binaries need and nothing of the
# build toolchain. The C library's own package (libc6) is included.
#
#   bash deploy/container/runtime-packages.sh build/release/server/custodiand \
#     build/release/clients/custodianctl
#
# Exits non-zero, naming it, when a library is not found (ldd "not found") or
# belongs to no package (built by hand, not from Debian).
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: runtime-packages.sh EXECUTABLE..." >&2
  exit 2
fi

libraries=()
for executable in "$@"; do
  if [[ ! -x "$executable" ]]; then
    echo "runtime-packages: $executable is not an executable file" >&2
    exit 1
  fi
  if ldd "$executable" | grep -q 'not found'; then
    echo "runtime-packages: $executable needs libraries that are missing:" >&2
    ldd "$executable" | grep 'not found' >&2
    exit 1
  fi
  mapfile -t -O "${#libraries[@]}" libraries < <(ldd "$executable" |
    awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
done

# Debian 12 merges /lib into /usr/lib, but dpkg records each file under the
# path its package shipped it at: look each library up as ldd gives it, by
# its real path, and on the other side of the merge, in as few dpkg-query
# calls as possible (each reads the whole package database).
declare -A packages=()
declare -A owned=()
lookup() {  # lookup PATH...: records the owners dpkg knows of
  local line owner path
  while IFS= read -r line; do
    owner=${line%%: *}
    path=${line#*: }
    packages["${owner%%:*}"]=1  # "libfoo1:amd64" -> "libfoo1"
    owned["$path"]=1
  done < <(dpkg-query -S "$@" 2>/dev/null || true)
}
variants() {  # variants LIBRARY: the paths dpkg may record it under
  local real
  real=$(realpath "$1")
  printf '%s\n' "/usr$1" "$1" "/usr$real" "$real" "${1#/usr}" "${real#/usr}"
}
mapfile -t candidates < <(for library in "${libraries[@]}"; do
  variants "$library"; done | sort -u)
lookup "${candidates[@]}"
for library in "${libraries[@]}"; do
  found=0
  while read -r candidate; do
    if [[ -n "${owned[$candidate]:-}" ]]; then found=1; fi
  done < <(variants "$library")
  if [[ $found -eq 0 ]]; then
    echo "runtime-packages: $library belongs to no Debian package" >&2
    exit 1
  fi
done
printf '%s\n' "${!packages[@]}" | sort
