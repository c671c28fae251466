#!/usr/bin/env bash
# Compares the kinetype replays with the numpy/scikit-learn versions in this folder.
# Usage: benches/compare/run.sh [--repeat N] [--balabit-repeat N] [--skip-balabit] [--markdown FILE]
# Reads the data root from KINETYPE_DATA_DIR (default: ./datasets beside Cargo.toml).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
data=${KINETYPE_DATA_DIR:-$repo/datasets}
venv=$here/.venv

# The replays would download missing files; the comparison only reads data that is present.
for file in dsl2009/DSL-StrongPasswordData.csv balabit/public_labels.csv; do
    if [ ! -f "$data/$file" ]; then
        echo "missing $data/$file: set KINETYPE_DATA_DIR to a data root that has it" >&2
        exit 1
    fi
done

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
cargo build --release --quiet -p kinetype-cli --manifest-path "$repo/Cargo.toml"
exec "$venv/bin/python" "$here/compare.py" \
    --binary "$repo/target/release/kinetype" --data-dir "$data" "$@"
