#!/usr/bin/env bash
# Installs the Debian 12 (bookworm) packages needed to build, test and run
# Custodian. Idempotent: when every package is already installed it does
# nothing (no apt-get update) and returns at once.
#
# Runs as root; as another user it uses sudo when available.
set -euo pipefail

# systemd: systemd-analyze, with which tests/deploy_test.cc verifies the units
# in deploy/systemd (nothing here runs systemd).
PACKAGES=(
  build-essential
  ca-certificates
  ccache
  clang-format
  cmake
  jq
  libabsl-dev
  libbenchmark-dev
  libcli11-dev
  libgmock-dev
  libgoogle-perftools-dev
  libgrpc++-dev
  libgtest-dev
  libjwt-dev
  libprotobuf-dev
  libre2-dev
  librocksdb-dev
  libssl-dev
  libutf8proc-dev
  libyaml-cpp-dev
  ninja-build
  nlohmann-json3-dev
  openssl
  pkg-config
  protobuf-compiler
  protobuf-compiler-grpc
  systemd
)

missing=()
for package in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or install sudo) to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
