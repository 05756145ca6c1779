# etcd_wrapper.ops -- two commands: `make demo` and `make test` (see README.md)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
BIN := $(VENV)/bin
COLLECTIONS := $(CURDIR)/build/collections
COLL := $(COLLECTIONS)/ansible_collections/etcd_wrapper/ops
# ansible-test needs a real directory named ansible_collections/<ns>/<name>: a copy of the
# tracked (and untracked, not ignored) files, refreshed before every ansible-test run.
ATEST := $(CURDIR)/build/ansible-test/ansible_collections/etcd_wrapper/ops
PIP_BOOTSTRAP := 24.2
ATEST_CACHE := $(HOME)/.ansible/test/cache
TESTBED_DIR ?= $(CURDIR)/.testbed
# `make dist`: the collection tarball, built from a clean copy of the tracked files (galaxy.yml's
# build_ignore decides what goes in); `make galaxy-import` runs galaxy-importer on it
DIST := $(CURDIR)/build/dist
DIST_ROOT := $(CURDIR)/build/dist-tree
DIST_TREE := $(DIST_ROOT)/ansible_collections/etcd_wrapper/ops
GALAXY_IMPORTER_CFG := $(CURDIR)/tests/galaxy-importer.cfg
# the tracked (and untracked, not ignored) files of the checkout, copied to $(1)
copy_tracked = git ls-files -z --cached --others --exclude-standard | \
	  while IFS= read -r -d '' f; do [ -e "$$f" ] && printf '%s\0' "$$f"; done | \
	  xargs -0 cp --parents -t $(1)

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PYTHONPATH := $(CURDIR)/tests
export TESTBED_DIR
export PATH := $(BIN):$(PATH)

.PHONY: help deps venv link thirdparty binaries fleet-up demo demo-heal test sanity units integration lint changelog-lint ansible-test-cache atest-tree dist galaxy-import docs testbed-up testbed-down clean

help:
	@echo "make demo    3-cluster local fleet + one fault of each kind + debug image + health_sweep.yml, then the summary"
	@echo "make demo-heal     undo the demo's faults"
	@echo "make test    sanity + unit + integration tests (starts podman, registries, kind node)"
	@echo "make testbed-down  stop everything the tests/demo started"
	@echo "make dist    the collection tarball in build/dist; make galaxy-import runs galaxy-importer on it"

deps:
	tests/tools/install-system-deps.sh

$(BIN)/ansible: test-requirements.txt requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r test-requirements.txt -r requirements.txt
	touch $@

venv: $(BIN)/ansible

link:
	mkdir -p $(dir $(COLL))
	ln -sfn $(CURDIR) $(COLL)

ansible-test-cache: venv
	mkdir -p $(ATEST_CACHE)
	ls $(ATEST_CACHE)/pip-$(PIP_BOOTSTRAP)-*.whl >/dev/null 2>&1 || \
	  $(BIN)/pip download -q --no-deps -d $(ATEST_CACHE) pip==$(PIP_BOOTSTRAP)
	cp tests/tools/get_pip_offline.py $(ATEST_CACHE)/get_pip_$(subst .,_,$(PIP_BOOTSTRAP)).py

atest-tree: ansible-test-cache
	rm -rf $(ATEST) && mkdir -p $(ATEST)
	$(call copy_tracked,$(ATEST))
	# its own git index, so ansible-test lists exactly these files (the repo's .gitignore hides build/)
	cd $(ATEST) && git init -q && git add -A

sanity: atest-tree
	cd $(ATEST) && ansible-test sanity --venv --python 3.11 --color no $(SANITY_ARGS)

units: atest-tree
	cd $(ATEST) && ansible-test units --venv --requirements --python 3.11 --color no $(UNITS_ARGS)

# the collection tarball as Galaxy / Automation Hub get it: build/dist/etcd_wrapper-ops-<version>.tar.gz
dist: venv
	rm -rf $(DIST) $(DIST_ROOT) && mkdir -p $(DIST) $(DIST_TREE)
	$(call copy_tracked,$(DIST_TREE))
	ansible-galaxy collection build --output-path $(DIST) $(DIST_TREE)
	@tar -tzf $(DIST)/etcd_wrapper-ops-*.tar.gz | awk -F/ '{print $$1}' | sort | uniq -c
	@ls -l $(DIST)/etcd_wrapper-ops-*.tar.gz

# galaxy-importer (what Galaxy and Automation Hub run on upload) on the tarball, with the repo's
# config (tests/galaxy-importer.cfg: ansible-test in a container off, ansible-lint offline on).
# It writes importer_result.json into its working directory: build/dist. Fails on any ERROR line.
galaxy-import: dist
	cd $(DIST) && GALAXY_IMPORTER_CONFIG=$(GALAXY_IMPORTER_CFG) $(BIN)/python -m galaxy_importer.main \
	  etcd_wrapper-ops-*.tar.gz 2>&1 | tee galaxy-importer.log
	@! grep -E '^(ERROR|CRITICAL)' $(DIST)/galaxy-importer.log
	@grep -q '^Importer processing completed successfully' $(DIST)/galaxy-importer.log

# awx.awx (for extensions/awx/configure.yml) from the ansible wheel on PyPI: Galaxy is unreachable
THIRDPARTY := $(CURDIR)/build/bench-cache/collections
thirdparty: venv
	$(BIN)/python tests/tools/thirdparty.py awx.awx

lint: venv link thirdparty
	ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS):$(THIRDPARTY) ansible-lint --offline --profile production

changelog-lint: venv
	antsibull-changelog lint

docs: venv link
	@mods=$$(ansible-doc -l etcd_wrapper.ops | awk '{print $$1}'); test -n "$$mods"; \
	for m in $$mods; do ansible-doc $$m >/dev/null; echo "ansible-doc $$m: ok"; done
	@roles=$$(ls roles); for r in $$roles; do ansible-doc -t role etcd_wrapper.ops.$$r >/dev/null; echo "ansible-doc -t role $$r: ok"; done
	@for p in $$(ls plugins/inventory/*.py | xargs -n1 basename | sed 's/\.py$$//'); do \
	  ansible-doc -t inventory etcd_wrapper.ops.$$p >/dev/null; echo "ansible-doc -t inventory $$p: ok"; done

# kube-apiserver + kubectl (k8s.io/kubernetes from the Go module proxy), etcdops-node
# (virtual-kubelet + podman provider), the etcd-wrapper and etcd-backup-restore stand-ins with
# etcdctl/etcdutl v3.5.35; cold ~17 min on 2 cores, then cached
binaries:
	PATH="$$PATH:/usr/local/go/bin" bash tests/testbed/go/build.sh $(CURDIR)/build/bin
	PATH="$$PATH:/usr/local/go/bin" bash tests/testbed/go/node/build.sh $(CURDIR)/build/bin
	PATH="$$PATH:/usr/local/go/bin" bash tests/testbed/go/etcd/build.sh $(CURDIR)/build/bin

integration: deps venv link binaries
	$(BIN)/pytest -q tests/testbed tests/integration $(PYTEST_ARGS)

test: deps sanity units lint changelog-lint docs galaxy-import integration

demo: deps venv link binaries
	$(BIN)/python tests/tools/demo.py

demo-heal: venv
	$(BIN)/python -m testbed fault heal

testbed-up: deps venv
	$(BIN)/python -m testbed infra up

fleet-up: deps venv binaries
	$(BIN)/python -m testbed up

testbed-down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m testbed down; fi

clean: testbed-down
	rm -rf build
