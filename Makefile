# swarm-operator: every set-up step lives here, so a fresh machine needs only `make`.
# `make demo` runs the main job, `make test` the tests (both install what they need).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
APT_STAMP := /var/lib/swarm-operator-lab-deps.stamp
LAB_PACKAGES := docker.io docker-registry busybox-static iproute2 iptables
# Debian 13 ships the docker CLI in a package of its own, and its docker.io no longer pulls
# in libdevmapper, which bookworm's dockerd 20.10 (the 20.10 lab, fetched into the cache) links.
ifeq ($(shell cut -d. -f1 /etc/debian_version 2>/dev/null),13)
LAB_PACKAGES += docker-cli libdevmapper1.02.1
endif
PYTEST_ARGS ?=
# Docker engine release of the lab (see README "Lab"): 26.1 (default) or 20.10.
ENGINE ?= $(or $(SWARM_OPERATOR_LAB_ENGINE),26.1)
export SWARM_OPERATOR_LAB_ENGINE := $(ENGINE)

.PHONY: install deps demo test test-unit lint crds constraints clean engine

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

# Debian packages the lab needs (root). Idempotent: skipped once installed.
deps:
	@if [ "$$(id -u)" != 0 ]; then echo "make deps needs root (apt-get install $(LAB_PACKAGES))" >&2; exit 1; fi
	@missing=""; for p in $(LAB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The README's test command: everything, lab tests included (needs root), on a lab of
# Docker $(ENGINE) (e.g. `make test ENGINE=20.10`).
test: install deps
	$(BIN)/pytest $(PYTEST_ARGS)

# Fetch (once) and check the lab's Docker $(ENGINE) binaries; `lab up` does it too.
engine: install
	$(BIN)/swarm-operator lab engine --engine $(ENGINE)

# Pure tests only: no root, no Docker.
test-unit: install
	$(BIN)/pytest -m "not lab" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check operator bench
	$(BIN)/ruff format --check operator bench
	$(BIN)/mypy operator/swarm_operator
	$(BIN)/mypy bench
	$(BIN)/lint-imports

# JSON Schemas of the manifest kinds and the README's manifest reference, generated from
# the models and checked in (operator/tests/test_crds.py fails when they are stale).
crds: install
	$(PY) -m swarm_operator.manifests.schema crds
	$(PY) -m swarm_operator.manifests.schema --readme README.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# --- lab (see README "Lab"): a real multi-host Swarm on this machine (root, Linux) ---
LAB_INDEX ?= $(or $(SWARM_OPERATOR_LAB_INDEX),0)
LAB_HOSTS ?= 3
.PHONY: lab lab-down

lab: deps install
	$(BIN)/swarm-operator lab up --index $(LAB_INDEX) --hosts $(LAB_HOSTS) --engine $(ENGINE)

lab-down: install
	$(BIN)/swarm-operator lab down --index $(LAB_INDEX)

# --- daemon (see README "The daemon"): promtool and systemd-analyze for the deploy/ tests,
# git for the source revision. Added to the packages `make deps` installs.
LAB_PACKAGES += prometheus systemd git curl
DEMO_DIR ?= manifests/cross-host-demo
# The example manifests name lab 0's registry (10.77.0.1:5000). On another lab index the
# daemon keeps a copy of them with that address rewritten to the lab's own registry.
DEMO_COPY := .demo-manifests
DEMO_RUN_DIR = $(if $(filter 0,$(LAB_INDEX)),$(DEMO_DIR),$(DEMO_COPY))
DEMO_ADDR ?= 127.0.0.1:9786
DEMO_PID := .demo.pid
DEMO_LOG := .demo.log
.PHONY: demo demo-stop

# Lab up, then the daemon on the demo manifests, in the background (pid in .demo.pid).
demo: lab
	@if [ -f $(DEMO_PID) ] && kill -0 "$$(cat $(DEMO_PID))" 2>/dev/null; then \
		echo "the demo daemon already runs (pid $$(cat $(DEMO_PID))); make demo-stop first"; exit 1; fi
	@if [ "$(DEMO_RUN_DIR)" = "$(DEMO_COPY)" ]; then rm -rf $(DEMO_COPY) && cp -r $(DEMO_DIR) $(DEMO_COPY) && \
		sed -i 's#10\.77\.0\.1:5000/#10.77.$(LAB_INDEX).1:5000/#g' $(DEMO_COPY)/*.yaml && \
		echo "lab $(LAB_INDEX): the daemon keeps $(DEMO_COPY), a copy of $(DEMO_DIR) naming registry 10.77.$(LAB_INDEX).1:5000 (edit the copy)"; fi
	@eval "$$($(BIN)/swarm-operator lab env --index $(LAB_INDEX))"; \
	$(BIN)/swarm-operator run $(DEMO_RUN_DIR) --metrics-addr $(DEMO_ADDR) --log-format json \
		> $(DEMO_LOG) 2>&1 & echo $$! > $(DEMO_PID)
	@for i in $$(seq 60); do curl -sf http://$(DEMO_ADDR)/readyz >/dev/null && break; sleep 1; done
	@curl -sf http://$(DEMO_ADDR)/readyz >/dev/null || { echo "the daemon did not become ready; see $(DEMO_LOG)"; exit 1; }
	@echo "swarm-operator runs on the lab (pid $$(cat $(DEMO_PID)), log $(DEMO_LOG)), keeping $(DEMO_RUN_DIR):"
	@echo "  metrics:  curl http://$(DEMO_ADDR)/metrics | grep swarm_operator_object_info"
	@echo "  status:   curl http://$(DEMO_ADDR)/status"
	@echo "  the lab:  eval \"\$$($(BIN)/swarm-operator lab env --index $(LAB_INDEX))\"; docker service ls"
	@echo "  try:      docker service scale <a service>=5   (reverted within a second)"
	@echo "  stop:     make demo-stop   (then make lab-down)"

demo-stop:
	@if [ -f $(DEMO_PID) ]; then pid=$$(cat $(DEMO_PID)); kill -TERM $$pid 2>/dev/null || true; \
		for i in $$(seq 120); do kill -0 $$pid 2>/dev/null || break; sleep 1; done; rm -f $(DEMO_PID); \
		echo "demo daemon stopped"; else echo "no demo daemon running"; fi

# --- the operator's image (see README "The operator as a Swarm service"): a Debian root
# file system made by mmdebstrap (cached in /var/cache/swarm-operator/rootfs), the project's
# wheels installed offline; built on lab $(LAB_INDEX)'s manager, pushed to its registry.
LAB_PACKAGES += mmdebstrap
.PHONY: image

image: deps install
	@eval "$$($(BIN)/swarm-operator lab env --index $(LAB_INDEX))"; \
		deploy/build-image.sh "$$($(PY) -c 'from swarm_operator.lab import load_lab; print(load_lab($(LAB_INDEX)).registry)')"

# --- bench (see README "Benchmarks"): swarm-operator vs docker stack deploy vs the raw API ---
# Brings lab $(LAB_INDEX) up (or repairs it) and runs bench/run.py; results in bench-results/.
# e.g. make bench BENCH_ARGS="--sizes 10,50 --trials 20 --parts ab" ENGINE=20.10
BENCH_ARGS ?=
BENCH_STAMP := $(VENV)/.bench-installed
.PHONY: bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: deps $(BENCH_STAMP)
	$(BIN)/swarm-operator lab up --index $(LAB_INDEX) --hosts $(LAB_HOSTS) --engine $(ENGINE)
	$(PY) bench/run.py --index $(LAB_INDEX) --engine $(ENGINE) $(BENCH_ARGS)

# Re-pin constraints.txt to what the current .venv (with the bench extra) holds.
constraints: $(BENCH_STAMP)
	{ sed -n '1,3p' constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -iv '^swarm-operator'; } > constraints.new
	mv constraints.new constraints.txt

# --- fuzz (see README "Bad input"): the loader's fuzz suite with a long example budget
# (CI runs the same tests with a small fixed budget as part of `make test-unit`).
FUZZ_EXAMPLES ?= 50000
.PHONY: fuzz

fuzz: install
	SWARM_OPERATOR_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -p no:cacheprovider \
		operator/tests/test_fuzz.py -q -x --timeout 0 $(PYTEST_ARGS)
