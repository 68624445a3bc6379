#!/bin/sh
# Check that every C file is formatted as .clang-format says (CI runs this).
set -eu
cd "$(dirname "$0")/.."
bad=0
for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*'); do
	if ! clang-format --style=file "$f" | cmp -s - "$f"; then
		echo "check-format: $f is not formatted (run: clang-format -i $f)"
		bad=1
	fi
done
[ $bad -eq 0 ] && echo "check-format: ok"
exit $bad
