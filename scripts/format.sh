#!/usr/bin/env bash
# Formats every C++ file with the repository's .clang-format (clang-format 14); `--check` only reports.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(find src tests bench fuzz examples \( -name '*.cpp' -o -name '*.h' \))
if [ "${1:-}" = "--check" ]; then
  clang-format --dry-run --Werror $files
else
  clang-format -i $files
fi
