#!/usr/bin/env bash
# The whole check, as CI runs it: builds everything with AddressSanitizer and
# UndefinedBehaviorSanitizer (Debug, build/asan), runs every test with ctest,
# and checks that every C++ file is clang-formatted.
#
# Exits non-zero if the build, any test or the format check fails; the format
# check runs (and reports) even when tests fail.
#
# Idempotent: dependencies are installed and the build directory configured
# only once; ninja and ccache rebuild only what changed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

BUILD_DIR=build/asan
JOBS=${CUSTODIAN_JOBS:-$(nproc)}

# --- Format check -----------------------------------------------------------
# Every tracked (or new, not ignored) .h/.cc file must already be formatted.
format_status=0
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t sources < <(git ls-files --cached --others --exclude-standard \
    -- '*.h' '*.cc' | sort -u)
else
  mapfile -t sources < <(find . -path ./build -prune -o \
    \( -name '*.h' -o -name '*.cc' \) -type f -print | sort)
fi
unformatted=()
for file in "${sources[@]}"; do
  [[ -f "$file" ]] || continue  # deleted but still in the index
  if ! clang-format --dry-run -Werror "$file" >/dev/null 2>&1; then
    unformatted+=("$file")
  fi
done
if [[ ${#unformatted[@]} -gt 0 ]]; then
  echo "test.sh: these files are not clang-formatted (run clang-format -i):" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  format_status=1
else
  echo "test.sh: clang-format: ${#sources[@]} files formatted"
fi

# --- Sanitizer settings -----------------------------------------------------
# LeakSanitizer needs ptrace; where it cannot run (some containers, or under a
# debugger) it aborts every process at exit. Probe once with a program that
# leaks on purpose, and turn leak detection off (saying so) if LSan cannot
# report it. Set before the build: test discovery runs the test binaries.
detect_leaks=1
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
printf 'int main() { new int[4]; return 0; }\n' >"$probe_dir/leak.cc"
if c++ -fsanitize=address -g "$probe_dir/leak.cc" -o "$probe_dir/leak" \
    2>/dev/null; then
  probe_output=$(ASAN_OPTIONS=detect_leaks=1 "$probe_dir/leak" 2>&1 || true)
  if ! grep -q 'LeakSanitizer: detected memory leaks' <<<"$probe_output"; then
    detect_leaks=0
    echo "test.sh: WARNING: LeakSanitizer cannot run here" \
      "(ptrace restricted?); leak detection is OFF for this run" >&2
  fi
fi
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:print_stacktrace=1:detect_leaks=${detect_leaks}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

# --- Build ------------------------------------------------------------------
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE=Debug \
    -DCUSTODIAN_SANITIZE=ON \
    -DCUSTODIAN_BUILD_TESTS=ON \
    -DCUSTODIAN_BUILD_BENCH=ON
fi
cmake --build "$BUILD_DIR" -- -j "$JOBS"

# --- Tests ------------------------------------------------------------------
test_status=0
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" || test_status=$?

if [[ $format_status -ne 0 ]]; then
  echo "test.sh: FAILED: formatting (see the list above)" >&2
fi
if [[ $test_status -ne 0 ]]; then
  echo "test.sh: FAILED: tests" >&2
fi
if [[ $format_status -ne 0 || $test_status -ne 0 ]]; then
  exit 1
fi
echo "test.sh: OK"
