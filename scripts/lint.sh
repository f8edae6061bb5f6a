#!/usr/bin/env bash
# Style gate: clang-format (no diff allowed) and clang-tidy (naming and a few bug checks, see
# .clang-tidy) over the project's C++ sources. Needs a configured debug build for
# compile_commands.json (scripts/test.sh makes one).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h')
clang-format --dry-run --Werror "${files[@]}"
mapfile -t units < <(git ls-files 'src/*.cc')
status=0
printf '%s\n' "${units[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p build/debug --quiet \
  >build/debug/clang-tidy.log 2>&1 || status=$?
if ((status != 0)) || grep -qE "(error|warning):" build/debug/clang-tidy.log; then
  grep -E "(error|warning):" build/debug/clang-tidy.log || tail -20 build/debug/clang-tidy.log
  echo "clang-tidy found problems" >&2
  exit 1
fi
echo "lint: clang-format and clang-tidy clean (${#files[@]} files)"
