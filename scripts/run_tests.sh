#!/usr/bin/env bash
# Install what a fresh headless Debian/Ubuntu machine lacks, then run the test suite.
# Extra arguments go to pytest, e.g. `bash scripts/run_tests.sh -k fibrosis`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Xvfb, Mesa's software OpenGL and the xcb libraries Qt needs: napari draws with OpenGL.
pkgs=(xvfb libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libdbus-1-3 libfontconfig1
      libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-image0 libxcb-randr0
      libxcb-render-util0 libxcb-xinput0 libxcb-cursor0 libxcb-shape0)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e '.[testing]'
# TensorFlow and Qt 6 must not share a process: the tests that import TensorFlow run apart.
python3 -m pytest -m "not tensorflow" "$@"
python3 -m pytest -m tensorflow "$@"
