#!/usr/bin/env bash
# Regenerates the README's and the guide's screenshots from the sample tenant's first audit (the
# README's first command, with last week's committed run as its history): report.html in headless
# Chromium, and the workbook's Summary sheet as LibreOffice prints it.
# Needs chromium, soffice (libreoffice-calc) and pdftoppm (poppler-utils), as .ci/run installs.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The committed history only (running the sample in the clone appends its own runs).
tenant=a27b43c7-0a4f-4c67-a4d9-b08c482f4357
mkdir -p "$work/out/$tenant"
cp -r "reports/$tenant/20261123T120000Z" "$work/out/$tenant/"
git show "HEAD:reports/$tenant/index.csv" > "$work/out/$tenant/index.csv"
run=$(ENTRA_DRIFT_NOW=2026-11-30T12:00:00Z cargo run -q --locked -- -q audit \
  --config fixtures/contoso.toml --out "$work/out")
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --user-data-dir="$work/profile" --window-size=1366,1400 \
  --screenshot="$PWD/reports/screenshots/dashboard.png" "file://$run/report.html" 2>/dev/null
HOME="$work" soffice --headless --norestore --convert-to pdf --outdir "$work" "$run/drift.xlsx" >/dev/null
pdftoppm -png -r 100 -f 1 -l 1 -singlefile "$work/drift.pdf" reports/screenshots/summary-sheet
cp reports/screenshots/dashboard.png reports/screenshots/summary-sheet.png docs/src/images/
echo "reports/screenshots/dashboard.png reports/screenshots/summary-sheet.png (and docs/src/images/)"
