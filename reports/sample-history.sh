#!/bin/sh
# Regenerates last week's run of the sample tenant, which is committed so that the sample's first
# audit (`cargo run -- audit --config fixtures/contoso.toml`) already has a previous run: new,
# persisting and resolved findings, days open and a trend. A test checks that the committed run
# is what this script writes with the current code.
set -eu
cd "$(dirname "$0")/.."
tenant=a27b43c7-0a4f-4c67-a4d9-b08c482f4357
rm -rf "reports/$tenant"
ENTRA_DRIFT_NOW=2026-11-23T12:00:00Z cargo run --locked -q -- -q audit \
    --tenant-dir fixtures/contoso-last-week --exceptions fixtures/contoso-exceptions.toml --out reports
git add -f "reports/$tenant"
