#!/bin/sh
# Installs what the test suites need beyond `npm ci`. Idempotent: does nothing when it is all there.
set -eu

apt_install() {
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update
  $SUDO apt-get install -y "$@"
}

#   - gRPC C-core for Python (Debian python3-grpcio + python3-protobuf): the second real xDS peer of
#     test/e2e/c-core.test.ts, run with /usr/bin/python3 (a pyenv python3 earlier on PATH cannot import it).
if /usr/bin/python3 -c 'import grpc' >/dev/null 2>&1; then
  echo "ci-deps: python3-grpcio present ($(/usr/bin/python3 -c 'import grpc; print(grpc.__version__)'))"
else
  echo "ci-deps: installing python3-grpcio python3-protobuf"
  apt_install python3-grpcio python3-protobuf
  /usr/bin/python3 -c 'import grpc; print("ci-deps: python3-grpcio", grpc.__version__)'
fi

#   - kubectl (test/kube-fixture, test/e2e/kubernetes.test.ts drive the API-server fixture with it). The
#     machine image carries kubectl 1.32 at /usr/bin/kubectl; only when it is missing, install Debian's
#     package (kubectl 1.20: test/kube-fixture/kubectl.ts then adds --validate=false to apply/create).
if [ -x /usr/bin/kubectl ]; then
  echo "ci-deps: kubectl present ($(/usr/bin/kubectl version --client -o yaml 2>/dev/null | sed -n 's/^ *gitVersion: //p' | head -1))"
else
  echo "ci-deps: installing kubectl (Debian)"
  apt_install kubectl
fi
