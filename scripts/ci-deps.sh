#!/bin/sh
# What the test suites need beyond `npm ci`, installed when missing: `npm test` runs this first (pretest),
# so a fresh clone needs nothing else. Idempotent; with --quiet it prints nothing when all is there.
# Where it cannot install (not root and no password-less sudo, no apt-get, apt-get failing) it says so in
# one line and exits 0, and the tests that need the missing peer fail naming it.
#   - gRPC C-core for Python (Debian python3-grpcio + python3-protobuf): the second real xDS peer of
#     test/e2e/c-core.test.ts, run with /usr/bin/python3 (a pyenv python3 earlier on PATH cannot import it).
#   - kubectl (test/kube-fixture, test/e2e/kubernetes.test.ts drive the API-server fixture with it). The
#     machine image carries kubectl 1.32 at /usr/bin/kubectl; only when it is missing, Debian's package
#     (kubectl 1.20: test/kube-fixture/kubectl.ts then adds --validate=false to apply/create).
#   - chromium (Debian's package, /usr/bin/chromium): the real browser test/e2e/mesh-ui.test.ts drives
#     headless with playwright-core (a dev dependency; it downloads no browser).
set -u

quiet=""
[ "${1:-}" = "--quiet" ] && quiet=1
say() { [ -n "$quiet" ] || echo "ci-deps: $*"; }

missing=""
if /usr/bin/python3 -c 'import grpc' >/dev/null 2>&1; then
  say "python3-grpcio present ($(/usr/bin/python3 -c 'import grpc; print(grpc.__version__)'))"
else
  missing="$missing python3-grpcio python3-protobuf"
fi
if [ -x /usr/bin/kubectl ]; then
  say "kubectl present ($(/usr/bin/kubectl version --client -o yaml 2>/dev/null | sed -n 's/^ *gitVersion: //p' | head -1))"
else
  missing="$missing kubectl"
fi
if [ -x /usr/bin/chromium ]; then
  say "chromium present ($(/usr/bin/chromium --version 2>/dev/null | head -1))"
else
  missing="$missing chromium"
fi
[ -z "$missing" ] && exit 0

skipped="until then the tests that need them fail"
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
  sudo="sudo -n"
else
  echo "ci-deps: cannot install$missing: not root and no password-less sudo; run 'sudo apt-get install$missing' ($skipped)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ci-deps: cannot install$missing: no apt-get here; install them with your package manager ($skipped)" >&2
  exit 0
fi
log="${TMPDIR:-/tmp}/meshd-ci-deps.log"
echo "ci-deps: installing$missing with apt-get (log: $log)"
# shellcheck disable=SC2086 # $missing is a list of package names
if ! { $sudo apt-get update && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y $missing; } >"$log" 2>&1; then
  echo "ci-deps: apt-get install$missing failed, see $log ($skipped)" >&2
  exit 0
fi
say "installed$missing"
