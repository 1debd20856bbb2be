#!/bin/sh
# Quick start, command 1: install what is missing (Debian 12, as root),
# build, and run the demo.
set -e
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
make build
./build/hetmem info
./build/hetmem demo "$@"
