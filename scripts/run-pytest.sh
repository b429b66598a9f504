#!/usr/bin/env bash
# pytest with exit code 5 (nothing collected) treated as a failure with a clear message:
# every selection here is expected to run tests.
"$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "ERROR: pytest collected no tests for: $*" >&2
fi
exit $rc
