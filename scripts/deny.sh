#!/usr/bin/env bash
# `make deny`: cargo-deny over the dependency tree, by the rules and exceptions of deny.toml.
#
# Licences, bans (duplicates warn, wildcards fail) and sources always run: they need only the
# lock file and crates.io. The advisory check needs the RustSec advisory database, a git
# repository on GitHub; where it cannot be fetched, the check is skipped and a line says so
# (set DENY_ADVISORIES=require to fail instead). It never passes without a database.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deny --version >/dev/null 2>&1; then
  echo "deny: cargo-deny is not installed (cargo install --locked cargo-deny; .ci/run pins the version)" >&2
  exit 1
fi

# Duplicate-version warnings name their lock entries; the inclusion graphs would add a
# thousand lines to every run. On a failure the hint below shows where to get them.
if ! cargo deny --locked check --hide-inclusion-graph licenses bans sources; then
  echo "deny: failed; \`cargo deny check licenses bans sources\` shows each crate's inclusion graph" >&2
  exit 1
fi

# A network that drops packets instead of refusing would hang git: two minutes at most.
if fetched=$(GIT_TERMINAL_PROMPT=0 timeout 120 cargo deny fetch db 2>&1); then
  cargo deny --locked check --hide-inclusion-graph advisories
else
  why=$(printf '%s\n' "$fetched" | grep -m1 -E 'fatal:|error:' | sed 's/^[^:]*fatal: //' || true)
  echo "deny: advisories SKIPPED: the RustSec advisory database could not be fetched" \
    "(${why:-no answer within 2 minutes, or see \`cargo deny fetch db\`}); known vulnerabilities were NOT checked"
  if [ "${DENY_ADVISORIES:-}" = require ]; then
    exit 1
  fi
fi
