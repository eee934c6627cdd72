#!/usr/bin/env bash
# Written rules checked by a script (as curl does): banned functions, clang-format.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
# Unbounded or locale/thread-unsafe functions never belong in a gateway.
banned='\b(gets|strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|atof|localtime|gmtime|asctime|ctime|tmpnam|rand)\s*\('
if grep -nE "$banned" $(git ls-files 'src/*.c' 'src/*.h'); then
  echo "lint: banned function used (see STYLE.md)"; status=1
fi
if grep -nE '\bdouble\b|\bfloat\b' $(git ls-files 'src/accounting/*.c' 'src/accounting/*.h' 'src/finops/*.c' 2>/dev/null) /dev/null; then
  echo "lint: floating point near money (accounting/, finops/)"; status=1
fi
if command -v clang-format >/dev/null; then
  files=$(git ls-files 'src/*.[ch]' 'tests/unit/*.[ch]' 'tests/fuzz/*.[ch]')
  if [ -n "$files" ] && ! clang-format --dry-run --Werror $files >/dev/null 2>&1; then
    clang-format --dry-run $files 2>&1 | grep -E '^[^ ].*warning' | head -20
    echo "lint: clang-format differences (run 'make format')"; status=1
  fi
fi
exit $status
