#!/usr/bin/env bash
# Build the wheel and install it (not editable) into two fresh venvs: the core install (theory + check) and
# monotheory[all]. Run from outside the source tree, so nothing is imported from the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" .
wheel=$(ls "$work"/dist/monotheory-*.whl)
echo "== wheel: $(basename "$wheel")"

echo "== core install (no extras)"
"$PYTHON" -m venv "$work/core"
"$work/core/bin/pip" install --quiet "$wheel"
(
  cd "$work"
  "$work/core/bin/python" -c "import monotheory.theory, sys; assert 'torch' not in sys.modules and 'matplotlib' not in sys.modules"
  "$work/core/bin/monotheory" theory --sparsity 0.2 --samples 100000 --seed 0 --json > core-theory.json
  "$work/core/bin/monotheory" check --only C6,C7,C8 --out core-results
  test -s core-results/verdicts.md
  set +e
  "$work/core/bin/monotheory" toy --help > toy-help.out 2> toy-help.err
  rc=$?
  set -e
  test "$rc" -eq 2 && test "$(wc -l < toy-help.err)" -eq 1 && grep -q "monotheory\[toy\]" toy-help.err
  echo "core: monotheory toy says: $(cat toy-help.err)"
)

echo "== full install (monotheory[all])"
"$PYTHON" -m venv "$work/all"
"$work/all/bin/pip" install --quiet $TORCH_SPEC
"$work/all/bin/pip" install --quiet "$wheel[all]"
(
  cd "$work"
  "$work/all/bin/monotheory" theory --sparsity 0.2 --samples 100000 --seed 0 --json > all-theory.json
  "$work/all/bin/monotheory" toy --help > /dev/null
  "$work/all/bin/monotheory" check --only C6,C7 --quick --out all-results
  test -s all-results/verdicts.md
)
echo "wheel check: passed"
