#!/bin/sh
# test_env_table.sh HETMEM README — README.md's table of the HETMEM_*
# variables hm_init reads is the one `hetmem --help-env-markdown` generates
# from src/core/options.def (paste that output over the table to update it).
set -u
gen=$("$1" --help-env-markdown) || { echo "FAIL: hetmem --help-env-markdown"; exit 1; }
doc=$(sed -n '/^| variable | values | meaning |$/,/^$/p' "$2" | sed '/^$/d')
[ -n "$doc" ] || { echo "FAIL: no '| variable | values | meaning |' table in $2"; exit 1; }
if [ "$gen" != "$doc" ]; then
	echo "FAIL: $2's HETMEM_* table differs from hetmem --help-env-markdown:"
	printf '%s\n' "$doc" >/tmp/env_table_doc.$$; printf '%s\n' "$gen" >/tmp/env_table_gen.$$
	diff /tmp/env_table_doc.$$ /tmp/env_table_gen.$$; rm -f /tmp/env_table_doc.$$ /tmp/env_table_gen.$$
	exit 1
fi
echo "ok: $2's HETMEM_* table is options.def's"
