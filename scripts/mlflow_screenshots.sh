#!/usr/bin/env bash
# Screenshots of the MLflow UI as a user sees it, for reports/mlflow/:
#   scripts/mlflow_screenshots.sh [TRACKING_URI] [OUT_DIR]
# Needs Debian's chromium (`apt-get install chromium`). Starts `mlflow ui` on a
# free loopback port, waits until it answers, shoots the runs table of the
# `medinstruct` experiment (through the link `make ui` prints), its default landing
# page, its traces tab and the newest training run, then stops the server.
set -euo pipefail
uri=${1:-${MLFLOW_TRACKING_URI:-sqlite:///$PWD/mlflow.db}}
out=${2:-reports/mlflow}
py=${PYTHON:-python3}
mkdir -p "$out"
port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$py -m mlflow ui --backend-store-uri "$uri" --host 127.0.0.1 --port "$port" >/tmp/mlflow-ui.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; sleep 5' EXIT
for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 1
done
exp=$(MLFLOW_TRACKING_URI="$uri" $py -c 'import mlflow; print(mlflow.get_experiment_by_name("medinstruct").experiment_id)')
shoot() {  # shoot URL FILE
  chromium --headless=new --no-sandbox --disable-gpu --window-size=1600,1000 \
    --virtual-time-budget=25000 --screenshot="$2" "$1" >/dev/null 2>&1
  echo "wrote $2"
}
base="http://127.0.0.1:$port/#/experiments/$exp"
# the link `make ui` prints: the runs table, whatever the browser's GenAI/ML toggle says
link=$(MLFLOW_TRACKING_URI="$uri" $py -m medinstruct_core.tracking "http://127.0.0.1:$port" | sed 's/^[^h]*//')
shoot "$link" "$out/runs_table.png"
shoot "$base" "$out/experiment_default_landing.png"   # no query: the browser's toggle decides
shoot "$base/traces" "$out/traces.png"
train=$(MLFLOW_TRACKING_URI="$uri" $py -c 'import mlflow
runs = mlflow.search_runs(search_all_experiments=True, output_format="list", max_results=1,
                          filter_string="tags.`medinstruct.stage` = '"'train'"'")
print(runs[0].info.run_id if runs else "")')
[ -n "$train" ] && shoot "$base/runs/$train?workflowType=machine_learning" "$out/train_run_datasets.png"
exit 0
