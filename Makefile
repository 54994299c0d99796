# hypervisor.networking: `make test` is the whole pipeline, `make demo` the sandbox demo.
# Both bootstrap themselves on a fresh Debian 12 machine as root.
SHELL := /bin/bash
.DEFAULT_GOAL := help

REPO := $(CURDIR)
export PATH := $(REPO)/.venv/bin:$(PATH)
export CONTAINERS_CONF := $(REPO)/tests/podman/containers.conf
# ansible-lint and the demo find this checkout as hypervisor.networking through this path
export ANSIBLE_COLLECTIONS_PATH := $(REPO)/.tmp/collections
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0

STAGES := deps images lint sanity units integration galaxy molecule
SCENARIOS := $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))

.PHONY: help test deps images lint sanity units integration galaxy molecule demo clean collection-link

help:
	@echo "make test         the whole pipeline ($(STAGES)), with stage times"
	@echo "make demo         a bridge built by the collection in a sandbox network namespace"
	@echo "make lint|sanity|units|integration|galaxy|molecule   one stage"

test:
	@scripts/stages.sh $(STAGES)

deps:
	@scripts/host-deps.sh
	@scripts/venv.sh

images: deps
	@scripts/images.sh

collection-link:
	@mkdir -p .tmp/collections/ansible_collections/hypervisor
	@ln -sfn "$(REPO)" .tmp/collections/ansible_collections/hypervisor/networking

lint: deps collection-link
	@# a scratch HOME: molecule's prerun leaves an installed (older) copy of this collection
	@# in ~/.ansible/collections, which ansible-lint would prefer to the checkout
	mkdir -p .tmp/lint-home && HOME=$(REPO)/.tmp/lint-home ansible-lint
	antsibull-changelog lint
	cd .tmp/collections/ansible_collections/hypervisor/networking && antsibull-docs lint-collection-docs --plugin-docs .
	python scripts/role-docs.py --check

sanity: deps
	scripts/ansible-test.sh sanity

units: deps
	scripts/ansible-test.sh units

integration: deps
	python -m pytest -p no:cacheprovider -ra tests/integration

galaxy: deps
	scripts/galaxy.sh

molecule: deps images
	@set -e; times=""; for s in $(SCENARIOS); do echo "--- molecule scenario $$s"; t0=$$(date +%s); \
	  molecule test -s $$s; times="$$times$$(printf '%-18s %5ss' $$s $$(( $$(date +%s) - t0 )))\n"; done; \
	printf -- '--- molecule scenario times\n%b' "$$times"

demo: deps collection-link
	scripts/demo.sh

clean:
	rm -rf .tmp tests/output
