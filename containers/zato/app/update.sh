#!/usr/bin/env bash
# Installs the checked-out code, as `./update.sh` does in a real Zato checkout (/opt/zato/current).
#
# Stand-in layout: the code is copied to a fresh `.installs/<stamp>/` directory (code/, VERSION,
# REVISION) and the `.installed` symlink is then swapped to it with one rename(2), so a reader sees
# either the old or the new installation, never half of one. Running components keep the code they
# imported at start until they are restarted.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

rev="$(git rev-parse HEAD)"
version="$(tr -d '[:space:]' < VERSION)"
stamp="$(date -u +%Y%m%dT%H%M%S%N)-$$"

mkdir -p .installs
tmp=".installs/.tmp-$stamp"
rm -rf "$tmp"
mkdir "$tmp"
cp -R code "$tmp/code"
cp VERSION "$tmp/VERSION"
printf '%s\n' "$rev" > "$tmp/REVISION"
find "$tmp" -name __pycache__ -type d -prune -exec rm -rf {} +
mv "$tmp" ".installs/$stamp"

# A real directory left by something else cannot be replaced by rename(2); move it out of the way.
if [ -d .installed ] && [ ! -L .installed ]; then
    rm -rf .installed
fi
ln -s ".installs/$stamp" ".installed.new.$$"
mv -T ".installed.new.$$" .installed

# Keep the current and the previous installation, drop older ones.
keep_prev="$(ls -1 .installs | grep -v '^\.tmp-' | sort | tail -n 2 | head -n 1)"
for d in .installs/*; do
    name="$(basename "$d")"
    if [ "$name" != "$stamp" ] && [ "$name" != "$keep_prev" ]; then
        rm -rf "$d"
    fi
done

echo "Zato ${version} installed (revision ${rev})"
