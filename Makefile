# Every target sets up the virtual environment it needs by itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo demo-sim test test-slow test-compiled test-long lint bench wheels dist-check docs docs-figures

# The demos need only the runtime and the 'transports' extra (attrs, anyio, trio); the
# development tools (about 40 packages) come with the first target that needs them.
DEMO_STAMP := $(VENV)/.demo-installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,plot]'
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[transports]'
	touch $(DEMO_STAMP)

## demo: a handful of real nodes on loopback: converge, crash one, leave one
demo: $(DEMO_STAMP)
	$(PY) examples/demo_loopback.py

## demo-sim: a simulated cluster joins, loses a member and shows the detection
demo-sim: $(DEMO_STAMP)
	$(PY) examples/sim_demo.py

## lint: ruff (checks and formatting) and mypy --strict (the library, its tests, examples and
## benchmarks)
lint: $(STAMP)
	$(PY) -m ruff check swimcore transports tests examples benchmarks
	$(PY) -m ruff format --check swimcore transports tests examples benchmarks
	$(PY) -m mypy swimcore tests examples benchmarks

## test: lint, types, then the whole default test suite (what CI runs): the tests that may share
## the machine on TEST_WORKERS pytest-xdist workers (0: in this process; 3 by default, as most
## of them wait on real timers and sockets), then the tests marked exclusive (namespaces,
## floods, real processes against a clock) one at a time
TEST_WORKERS ?= 3
test: lint
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest -q -n $(TEST_WORKERS) -m "not exclusive"
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest -q -m exclusive || [ $$? -eq 5 ]

## test-slow: what the default suite leaves out to stay well under 10 minutes: the sweeps, the
## multi-host runs of a minute or more, controls, and the fuzz properties' full budgets
test-slow: $(STAMP)
	SWIMCORE_SLOW=1 HYPOTHESIS_PROFILE=ci $(PY) -m pytest -q -m slow --timeout 3600 || [ $$? -eq 5 ]

## test-compiled: build the optional mypyc-compiled core into .venv-compiled, run the core's
## tests against it (from outside the checkout), with the fuzz properties' full budgets (their
## *_full_budget twins, the only tests marked slow in these files), and check that the
## simulator's trace digests match the pure-Python build's
COMPILED_TESTS := test_codec.py test_address.py test_node_rules.py test_sim_basic.py test_security_crypto.py \
	test_sim_faults.py test_sim_roster.py test_antientropy.py test_stability.py test_receive_fuzz.py \
	test_dissemination.py test_snapshot_replies.py test_member_table.py test_sharing_table.py test_leader_ranks.py
test-compiled: $(STAMP)
	rm -rf .venv-compiled build/lib.* build/temp.* build/bdist.* build/__native* build/ops.txt build/swimcore
	$(PYTHON) -m venv .venv-compiled
	.venv-compiled/bin/pip install --quiet --upgrade pip 'setuptools>=77' wheel 'mypy>=1.10' \
		pytest pytest-timeout hypothesis 'attrs>=23.1' 'msgpack>=1.0' 'anyio>=4.10' 'trio>=0.25'
	SWIMCORE_COMPILE=1 .venv-compiled/bin/pip install --quiet --no-build-isolation \
		'.[transports,memberlist,crypto]'
	cd tests && ../.venv-compiled/bin/python -m swimcore --version | grep 'compiled with mypyc'
	cd tests && SWIMCORE_SLOW=1 HYPOTHESIS_PROFILE=ci ../.venv-compiled/bin/python -m pytest -q \
		-p no:cacheprovider $(COMPILED_TESTS)
	$(PY) benchmarks/compare_builds.py .venv-compiled/bin/python

## test-long: the hour-scale sweeps (10,000 nodes, 2,000 harsh seeds, 100-seed Lifeguard sweep,
## an hour of 1,000-node churn, the tuner's full grid); not run by CI
test-long: $(STAMP)
	SWIMCORE_LONG=1 HYPOTHESIS_PROFILE=ci $(PY) -m pytest -q -m long --timeout 0

## wheels: the release into dist/: the sdist, the pure-Python wheel and this platform's
## compiled (mypyc, manylinux) wheel
wheels:
	.ci/build-wheels dist

## dist-check: build the release, twine check, check which wheel pip picks here and elsewhere,
## install each wheel (with each extra) and smoke-test it
dist-check:
	.ci/check-dist

## docs: the documentation site in docs/_build/html (warnings and broken references are errors)
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(PY) -m sphinx -b html -W --keep-going -n -q docs docs/_build/html

## docs-figures: regenerate the protocol page's figures from the simulator (a few minutes)
docs-figures: $(STAMP)
	$(PY) docs/figures/make_figures.py

bench: $(STAMP)
	$(PY) benchmarks/bench_receive.py
