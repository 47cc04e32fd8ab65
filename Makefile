# make run: set everything up, then run the service on desired/ with state.db.
# make test: the same set-up plus PostgreSQL (the store tests run on it too), then ruff,
# mypy and the whole test suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Python keeps compiled modules in __pycache__ unless PYTHONDONTWRITEBYTECODE is set, as it
# is on some machines' images: then each of the thousand-odd service, CLI and DNS processes
# a test run starts compiles the package again (0.1 s of CPU for a CLI call, 0.3 s for a
# service start, measured), and the suite is bound by CPU.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test test-durations lint unit setup venv docker images browser postgres bench clean faults-full fuzz

# Each stage says what it does and how far along the set-up is (scripts/stage.sh).
$(STAMP): pyproject.toml
	@echo "==> [1/4] Python environment: $(VENV), pip install -e '.[dev]' (minutes on a fresh machine)" >&2
	$(PY) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PY) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

docker:
	@./scripts/stage.sh 2 4 "Docker engine (install and start when none answers)" \
	  --log /var/log/dockerd.log -- ./scripts/ensure-docker.sh

images: docker
	@./scripts/stage.sh 3 4 "base images: busybox, pause, nginx-slim (offline)" \
	  -- ./scripts/build-images.sh
	@./scripts/stage.sh 4 4 "demo images: Debian root filesystem, redis, web, guestbook" \
	  --log /var/cache/reconciler/debootstrap.log -- ./scripts/build-demo-images.sh

browser:
	@./scripts/stage.sh "test 1" 2 "Chromium for the dashboard's browser tests" \
	  -- ./scripts/ensure-browser.sh

# Only the tests need PostgreSQL's binaries (each run starts a cluster of its own).
postgres:
	@./scripts/stage.sh "test 2" 2 "PostgreSQL's binaries for the store tests" \
	  -- ./scripts/ensure-postgres.sh

setup: venv images

# The dashboard needs no browser; only its tests do.
# The demo's images are built locally (setup): pulls only from a loopback registry, unless
# RECONCILER_RUNTIME_PULL_FROM says otherwise (docs/images.md).
# The Kubernetes API is served over TLS on 127.0.0.1:6443, its CA, certificates, tokens and
# admin kubeconfig in kubeapi/ (made at the first start): kubectl --kubeconfig kubeapi/kubeconfig
# (docs/kubectl.md).
run: setup
	RECONCILER_RUNTIME_PULL_FROM="$${RECONCILER_RUNTIME_PULL_FROM-127.0.0.1}" \
	RECONCILER_API_TLS="$${RECONCILER_API_TLS-true}" RECONCILER_API_PKI=kubeapi/pki \
	RECONCILER_API_TOKENS=kubeapi/tokens RECONCILER_API_KUBECONFIG=kubeapi/kubeconfig \
	  $(BIN)/reconciler run --desired desired --state state.db

lint: venv
	$(BIN)/ruff check reconciler tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: venv
	$(BIN)/pytest -q tests/unit

# The suite runs on TEST_WORKERS processes (pytest-xdist), a test file per worker at a time:
# most tests wait on Docker, so five workers overlap the waits on two cores (the CronJob
# files wait minutes on real schedules). Tests that change machine-wide network state
# (the service proxy's rules and DNS address) hold tests/support/machine_lock.py's lock;
# their files are marked and run one after another on one worker, so no other worker
# waits for the lock (tests/support/file_order.py), and the other workers' tests run at
# nice 5 so that chain is not starved of CPU; the test hosts start under a lock
# (tests/conftest.py). TEST_WORKERS=0 runs everything in one process.
# Files run longest first, by the times in tests/data/file_durations.json
# (tests/support/file_order.py); each run writes its own times to tests/artifacts/, which
# `make test-durations` copies there after a run worth keeping.
# The set-up and lint run one after another: with lint beside the set-up (make -j2), the
# dockerd a fresh machine's set-up starts inherited make's jobserver pipe, and make, which
# reads that pipe to its end before it exits, waited for dockerd forever
# (scripts/ensure-docker.sh now closes what it does not need, too).
# A run still going after 50 minutes is interrupted (SIGINT): pytest then prints what it was
# running and the summary so far, where CI's own time limit would print nothing. In the
# foreground, so that Ctrl-C at a terminal still reaches pytest.
TEST_WORKERS ?= 5
test: setup browser postgres lint
	$(BIN)/python -m compileall -q reconciler tests bench >/dev/null
	RECONCILER_TEST_REQUIRE_POSTGRES=1 RECONCILER_TEST_DURATIONS=tests/artifacts/file_durations.json \
		timeout --foreground -s INT -k 120 3000 $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=30 tests

test-durations:
	cp tests/artifacts/file_durations.json tests/data/file_durations.json

# Every crash point of every scenario (make test takes a sample of about 40).
faults-full: setup
	RECONCILER_CRASH_STRIDE=1 $(BIN)/pytest -q tests/faults/test_crash_points.py

fuzz: venv  # the loader fuzz test with 50,000 cases (make test runs 2,000)
	FUZZ_EXAMPLES=50000 $(BIN)/pytest -q -s tests/integration/test_fuzz_loader.py

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) state.db state.db-*
