#!/usr/bin/env bash
# Installs the pinned @tensorflow/tfjs (package-lock.json) into bench/tfjs/node_modules
# with `npm ci`, unless every package there already has its locked version.
set -euo pipefail
cd "$(dirname "$0")"
node -e '
  const want = require("./package-lock.json").packages;
  const have = require("./node_modules/.package-lock.json").packages;
  for (const k in want) if (k && (!have[k] || have[k].version !== want[k].version)) process.exit(1);
' 2>/dev/null || npm ci --no-audit --no-fund --loglevel=error
