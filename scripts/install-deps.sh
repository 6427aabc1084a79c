#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Install the Debian packages listed in scripts/debian-packages.txt that are not
# installed yet. Uses sudo only when not run as root. Safe to run repeatedly: with
# everything present it only checks and returns.
set -eu

list="$(dirname "$0")/debian-packages.txt"
missing=""
# A line is "package" or "package command": with a command, the package is
# skipped when that command already exists (npm ships inside NodeSource's
# nodejs, which conflicts with Debian's npm package).
while read -r package command; do
    case "$package" in '' | '#'*) continue ;; esac
    if [ -n "$command" ] && command -v "$command" >/dev/null 2>&1; then
        continue
    fi
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done <"$list"

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "install-deps: missing packages:$missing; run this script as root or install sudo" >&2
    exit 1
fi

echo "install-deps: installing$missing" >&2
$sudo apt-get update -qq
# shellcheck disable=SC2086 # the package list is meant to split into words
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
