#!/bin/sh
# Installs what hetmem needs to build and test on Debian 12 (run as root).
# Only missing packages are installed, so a second run is quick.
set -e
PKGS="build-essential cmake pkg-config libcmocka-dev libmimalloc-dev python3 gnuplot-nox"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: missing packages:$missing (run as root, or install them)" >&2
		exit 1
	fi
	echo "install-deps: installing$missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
