#!/usr/bin/env bash
# Print the path of a Python 3.12 interpreter (the project's required version).
ok() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; }
candidates=(python3.12)
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.|$)' | sort -rV); do candidates+=("$(pyenv root)/versions/$v/bin/python3.12"); done
fi
candidates+=(/root/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12)
for c in "${candidates[@]}"; do
  if ok "$c"; then command -v "$c"; exit 0; fi
done
echo "python3.12 not found: install Python 3.12 (apt-get install python3.12, or pyenv install 3.12)" >&2
exit 1
