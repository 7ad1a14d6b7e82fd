#!/usr/bin/env bash
# ./training_testing_pipeline.sh [stage ...]
# Runs the named stages (get_data, prepare_data, train, evaluate, predict), or all of them, through
# DVC: a stage runs only if its code, params or inputs changed, after anything upstream of
# it that is out of date.
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/dvc ] || make install
export PATH="$PWD/.venv/bin:$PATH"
stages=(get_data prepare_data train evaluate predict)
for stage in "$@"; do
  if [[ ! " ${stages[*]} " == *" $stage "* ]]; then
    echo "training_testing_pipeline.sh: unknown stage '$stage' (stages: ${stages[*]})" >&2
    exit 2
  fi
done
dvc repro "$@"
