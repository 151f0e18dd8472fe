#!/usr/bin/env bash
# Regenerates the README's screenshots from the sample tenant (fixtures/contoso): report.html in
# headless Chromium, and the workbook's Summary sheet as LibreOffice prints it.
# Needs chromium, soffice (libreoffice-calc) and pdftoppm (poppler-utils), as .ci/run installs.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run=$(ENTRA_DRIFT_NOW=2026-11-30T12:00:00Z cargo run -q --locked -- -q audit \
  --tenant-dir fixtures/contoso --out "$work/out")
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --user-data-dir="$work/profile" --window-size=1400,1400 \
  --screenshot="$PWD/reports/screenshots/dashboard.png" "file://$run/report.html" 2>/dev/null
HOME="$work" soffice --headless --norestore --convert-to pdf --outdir "$work" "$run/drift.xlsx" >/dev/null
pdftoppm -png -r 100 -f 1 -l 1 -singlefile "$work/drift.pdf" reports/screenshots/summary-sheet
echo "reports/screenshots/dashboard.png reports/screenshots/summary-sheet.png"
