#!/usr/bin/env bash
# Install pymaster (NaMaster) 3.0.1, needed by spectra.estimator: pure_b, without any download
# but PyPI and Debian packages. Idempotent:
#   - pymaster already imports: nothing to do;
#   - a wheel built earlier lies in the cache: installed from it (seconds);
#   - otherwise the sdist is built against Debian's HEALPix C library (under a minute on 2 idle cores, a few on loaded ones)
#     and the wheel is kept in the cache.
# Steps of the build: Debian's libchealpix-dev, libgsl-dev, libfftw3-dev, libcfitsio-dev (and the
# autotools the C library's configure needs) are installed when missing (root with apt-get); the
# sdist's own libchealpix download is skipped by an empty _deps/lib/libchealpix.a, and the
# extension links Debian's shared libchealpix.so instead (Debian's static archive is not PIC).
#
#   scripts/install_namaster.sh [PYTHON]     PYTHON: default .venv/bin/python, else python3
#
# Environment: COMPSEP_WHEEL_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/compsep-hpc/wheels).
# Every failure prints one line "install_namaster: error: ..." on stderr and exits 1.
set -uo pipefail
cd "$(dirname "$0")/.."

VERSION=3.0.1
PY=${1:-$([[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3)}
[[ $PY == */* ]] && PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")  # absolute: the build runs elsewhere
CACHE=${COMPSEP_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/compsep-hpc/wheels}
SYSTEM_PACKAGES=(libchealpix-dev libgsl-dev libfftw3-dev libcfitsio-dev autoconf automake libtool make gcc)
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

fail() {
    echo "install_namaster: error: $1${2:+: $(tail -n 3 "$2" | tr '\n' ' ' | cut -c1-400)}" >&2
    exit 1
}

pymaster_imports() { "$PY" -c "import pymaster" >/dev/null 2>&1; }

system_packages() {
    local missing=()
    for p in "${SYSTEM_PACKAGES[@]}"; do
        [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null ||
        fail "system packages missing and no root apt-get to install them: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >"$LOG" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1 ||
        fail "apt-get install ${missing[*]} failed" "$LOG"
}

cached_wheel() {
    local tag
    tag=$("$PY" -c "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')") || return 1
    ls "$CACHE"/pymaster-"$VERSION"-"$tag"-*.whl 2>/dev/null | head -n 1
}

build_wheel() {
    local work src
    work=$(mktemp -d)
    "$PY" -m pip install -q "setuptools>=61" wheel numpy >"$LOG" 2>&1 || fail "pip install of setuptools/wheel failed" "$LOG"
    "$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation "pymaster==$VERSION" -d "$work" >"$LOG" 2>&1 ||
        fail "pip download of the pymaster $VERSION sdist failed" "$LOG"
    tar -xzf "$work/pymaster-$VERSION.tar.gz" -C "$work" || fail "unpacking the pymaster sdist failed"
    src=$work/pymaster-$VERSION
    mkdir -p "$src/_deps/lib" "$src/_deps/include"
    ar rc "$src/_deps/lib/libchealpix.a"  # empty: the sdist's libchealpix download is skipped
    ln -sf "$(dpkg -L libchealpix-dev | grep '/libchealpix\.so$' | head -n 1)" "$src/_deps/lib/libchealpix.so"
    [[ -e $src/_deps/lib/libchealpix.so ]] || fail "libchealpix.so not found in libchealpix-dev"
    grep -q "libs = \['cfitsio'" "$src/setup.py" || fail "setup.py of pymaster $VERSION has no libs list to patch"
    sed -i "s/libs = \['cfitsio'/libs = ['chealpix', 'cfitsio'/" "$src/setup.py"
    mkdir -p "$CACHE"
    (cd "$src" && "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$work/dist" .) >"$LOG" 2>&1 ||
        fail "building pymaster $VERSION failed" "$LOG"
    cp "$work"/dist/pymaster-"$VERSION"-*.whl "$CACHE"/ || fail "caching the wheel in $CACHE failed"
    rm -rf "$work"
}

pymaster_imports && { echo "install_namaster: pymaster already imports ($PY)"; exit 0; }
start=$SECONDS
system_packages
wheel=$(cached_wheel)
if [[ -z $wheel ]]; then
    echo "install_namaster: building pymaster $VERSION (about a minute on 2 idle cores; the wheel is cached in $CACHE)"
    build_wheel
    wheel=$(cached_wheel)
fi
"$PY" -m pip install -q "$wheel" >"$LOG" 2>&1 || fail "pip install $wheel failed" "$LOG"
pymaster_imports || fail "pymaster installed from $wheel but does not import" \
    <("$PY" -c "import pymaster" 2>&1)
echo "install_namaster: pymaster $VERSION installed from $wheel in $((SECONDS - start)) s"
