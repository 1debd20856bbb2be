#!/bin/sh
# test_install.sh BUILD_DIR SOURCE_DIR — a prefix install (cmake --install
# --prefix, no DESTDIR) into a temporary directory is usable: the example of
# examples/ builds against it through pkg-config and runs (with
# LD_LIBRARY_PATH), the installed hetmem prints its version, and the
# installed hetmem run preloads the installed libhetmem-preload.so.  The libdir
# is lib or lib/<multiarch> (GNUInstallDirs), whichever hetmem.pc is in.
# Skipped (77) without pkg-config or make; the example itself exits 77
# without a usable userfaultfd.
set -u
. "$(dirname "$0")/../lib.sh"
build=$1
src=$2
command -v pkg-config >/dev/null 2>&1 || hm_skip "no pkg-config"
command -v make >/dev/null 2>&1 || hm_skip "no make"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "cmake --install"; }
pc=$(find "$prefix" -name hetmem.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "no hetmem.pc installed"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
for f in "$prefix/bin/hetmem" "$prefix/include/hetmem.h" "$libdir/libhetmem.so" "$libdir/libhetmem.so.0" \
	"$libdir/libhetmem-preload.so" "$prefix/share/man/man1/hetmem.1"; do
	[ -e "$f" ] || fail "not installed: ${f#$prefix/}"
done
pcl=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=libdir hetmem)
[ "$pcl" = "$libdir" ] || fail "hetmem.pc: libdir is $pcl, not $libdir"
v=$("$prefix/bin/hetmem" --version) || fail "hetmem --version exited $?"
[ "$v" = "hetmem 0.1.0" ] || fail "hetmem --version: '$v'"
cp -r "$src/examples" "$tmp/examples"
PKG_CONFIG_PATH=$pcdir make -C "$tmp/examples" >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; fail "make -C examples"; }
LD_LIBRARY_PATH=$libdir "$tmp/examples/alloc" >"$tmp/run.log" 2>&1
rc=$?
cat "$tmp/run.log"
if [ $rc -eq 77 ]; then
	hm_skip "the example found no usable userfaultfd"
fi
[ $rc -eq 0 ] || fail "examples/alloc exited $rc"
# It ran against the installed library, not the build tree's.
LD_LIBRARY_PATH=$libdir ldd "$tmp/examples/alloc" | grep -q "libhetmem.so.0 => $libdir/" || fail "alloc not linked to the installed libhetmem.so.0"
# The installed hetmem run finds the installed preload library, not the
# build tree's: the program it runs prints its LD_PRELOAD.
pre=$(env -u HETMEM_PRELOAD "$prefix/bin/hetmem" run --dram 32M -- sh -c 'echo "$LD_PRELOAD"' 2>&1) || fail "installed hetmem run: $pre"
case "$pre" in
*"$libdir/libhetmem-preload.so"*) ;;
*) fail "installed hetmem run preloads '$pre', not $libdir/libhetmem-preload.so" ;;
esac
echo "ok: installed to $prefix (libdir ${libdir#$prefix/}), example built and ran"
