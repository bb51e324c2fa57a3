# Sourced by scripts/check and scripts/demo (not run on its own).
#
#   use_venv dev    # Baton and its dev extras (pytest, openapi-core, ruff, mypy)
#   use_venv base   # Baton and its dependencies only
#
# Picks the virtualenv to work in and puts its bin/ first on PATH:
#   - the one already active ($VIRTUAL_ENV), if any (CI, or a developer's own);
#   - otherwise the repository's .venv, created with `python3 -m venv` on first use
#     (set PYTHON to use another interpreter; Python 3.11 or newer).
# Then installs the repository into it (`pip install -e`) when that has not been done yet, or
# when pyproject.toml changed since: a stamp file in the virtualenv records the last install.
# Expects to be called from the repository's root.

use_venv() {
    local want=$1 venv stamp
    case $want in
        dev) local spec=".[dev]" ;;
        base) local spec="." ;;
        *) echo "use_venv: unknown set '$want' (dev or base)" >&2; return 2 ;;
    esac

    if [[ -n "${VIRTUAL_ENV:-}" ]]; then
        venv=$VIRTUAL_ENV
    else
        venv=$PWD/.venv
        if [[ ! -x "$venv/bin/python" ]]; then
            local python=${PYTHON:-python3}
            if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
                echo "Baton needs Python 3.11 or newer; '$python' is not (set PYTHON=...)." >&2
                return 1
            fi
            echo "== creating .venv with $("$python" --version)" >&2
            "$python" -m venv "$venv"
        fi
    fi
    export VIRTUAL_ENV=$venv
    export PATH=$venv/bin:$PATH

    # Installed already, with pyproject.toml unchanged since? (dev includes base.)
    for stamp in "$venv/.baton-installed-$want" "$venv/.baton-installed-dev"; do
        if [[ -f "$stamp" && ! pyproject.toml -nt "$stamp" && "$(cat "$stamp")" == "$PWD" ]]; then
            return 0
        fi
    done
    echo "== pip install -e \"$spec\" into $venv" >&2
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet -e "$spec" >&2
    echo "$PWD" >"$venv/.baton-installed-$want"
}
