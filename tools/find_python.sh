#!/usr/bin/env bash
# Print the path of a working CPython 3.8-3.10 interpreter, or explain what to install.
#
# nnabla publishes wheels for CPython 3.8, 3.9 and 3.10 only, so the project's virtual
# environment must be built with one of those. Candidates, in order:
#   1. $PYTHON, if the caller set it;
#   2. python3.10, python3.9, python3.8, python3 and python on PATH;
#   3. the interpreters installed by pyenv ($PYENV_ROOT/versions/3.{10,9,8}.*), newest first.
# A candidate counts only if it actually starts and reports a supported version: a pyenv
# shim that is not activated for the version fails to start and is skipped.
set -u

supported() {
    "$1" -c 'import sys, venv; sys.exit(0 if (3, 8) <= sys.version_info[:2] <= (3, 10) else 1)' \
        >/dev/null 2>&1
}

candidates=()
[[ -n "${PYTHON:-}" ]] && candidates+=("$PYTHON")
for name in python3.10 python3.9 python3.8 python3 python; do
    path=$(command -v "$name" 2>/dev/null) && candidates+=("$path")
done
pyenv_root=${PYENV_ROOT:-}
if [[ -z "$pyenv_root" ]] && command -v pyenv >/dev/null 2>&1; then
    pyenv_root=$(pyenv root 2>/dev/null)
fi
[[ -z "$pyenv_root" && -d "$HOME/.pyenv" ]] && pyenv_root="$HOME/.pyenv"
if [[ -n "$pyenv_root" && -d "$pyenv_root/versions" ]]; then
    while IFS= read -r dir; do
        candidates+=("$dir/bin/python")
    done < <(ls -d "$pyenv_root"/versions/3.10.* "$pyenv_root"/versions/3.9.* \
                   "$pyenv_root"/versions/3.8.* 2>/dev/null | sort -t. -k2,2nr -k3,3nr)
fi

for candidate in "${candidates[@]}"; do
    if supported "$candidate"; then
        echo "$candidate"
        exit 0
    fi
done

cat >&2 <<'MSG'
error: no working Python 3.8, 3.9 or 3.10 interpreter found.
nnabla publishes wheels for CPython 3.8-3.10 only. Install one, for example:
    pyenv install 3.10        (then re-run make; pyenv's versions are found automatically)
    apt-get install python3.10 python3.10-venv
or point the Makefile at one: make PYTHON=/path/to/python3.10 test
MSG
exit 1
