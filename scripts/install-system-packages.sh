#!/usr/bin/env bash
# Install the Debian/Ubuntu packages minemap needs, only those missing.
# PostgreSQL + PostGIS for the database; GDAL's command-line tools for the GIS-client tests;
# node and npm to install the web app's libraries; Chromium for its browser tests.
set -euo pipefail

packages=(postgresql-15 postgresql-15-postgis-3 gdal-bin)
# A node installed otherwise (NodeSource bundles npm) would conflict with Debian's npm.
if ! command -v npm >/dev/null; then packages+=(nodejs npm); fi
if [ "${MINEMAP_WITH_CHROMIUM:-1}" = 1 ]; then packages+=(chromium); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "minemap needs: ${missing[*]} (install them with your package manager)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo="sudo"; else
    echo "minemap needs: apt-get install ${missing[*]} (run it as root)" >&2
    exit 1
  fi
fi
echo "installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
