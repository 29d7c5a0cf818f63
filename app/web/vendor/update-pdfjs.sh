#!/usr/bin/env bash
# Refresh the vendored PDF.js (npm's pdfjs-dist) that the page uses to show cited PDF pages.
# The app serves these files itself: no CDN is ever contacted. Usage: update-pdfjs.sh [VERSION]
set -euo pipefail
version="${1:-5.6.205}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "pdfjs-dist@$version" >/dev/null && tar xzf pdfjs-dist-*.tgz)
target="$here/pdfjs"
rm -rf "$target"
mkdir -p "$target"
cp "$work/package/build/pdf.min.mjs" "$work/package/build/pdf.worker.min.mjs" "$work/package/LICENSE" "$target/"
cp -r "$work/package/standard_fonts" "$target/"
echo "$version" > "$target/VERSION"
echo "PDF.js $version in $target"
