#!/usr/bin/env bash
# Screenshots of the rendered site (home page and the API reference) with headless Chromium from
# Debian's packages (apt-get install -y chromium); run after `make docs`, from the repository root.
set -euo pipefail
html="$PWD/docs/_build/html"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
for page in index api; do
  chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars --window-size=1280,900 \
    --user-data-dir="$profile" --screenshot="docs/screenshot-$page.png" "file://$html/$page.html"
done
