# Rightsline — `make run` runs the whole line locally, `make test` runs every test.
# Both build what is missing first: two venvs from pinned files, the Rasa model when its
# inputs changed, the database schema.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
RASA_VENV := .venv-rasa
PY := $(VENV)/bin/python
RASA := $(RASA_VENV)/bin/rasa
# A venv is rebuilt only when its pinned requirement file changes (stamp = file hash).
GW_STAMP := $(VENV)/.stamp-$(shell sha1sum requirements/gateway.txt | cut -c1-12)
RASA_STAMP := $(RASA_VENV)/.stamp-$(shell sha1sum requirements/rasa.txt | cut -c1-12)
MODEL := models/rightsline.tar.gz
# Debian packages: Chromium for the browser tests; Noto + WenQuanYi fonts so Chromium and the
# QR card PDFs render Thai, Arabic and Chinese. Installed with apt when missing (root or sudo).
DEBIAN_PACKAGES := chromium fonts-noto-core fonts-wqy-microhei
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
AXE := tests/support/axe/node_modules/axe-core/axe.min.js
# The model depends on the data, the config and the custom NLU component's code.
BOT_INPUTS := $(shell find bot/components bot/domain nlu_data -type f \( -name '*.yml' -o -name '*.py' \) 2>/dev/null) bot/config.yml translations/translit.py
# Rasa and TensorFlow are chatty and try to phone home; keep them quiet and offline.
RASA_ENV := RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=3 SQLALCHEMY_SILENCE_UBER_WARNING=1 \
	PYTHONWARNINGS=ignore MPLCONFIGDIR=$(CURDIR)/var/mpl

.PHONY: all venv model run test test-unit test-rasa test-e2e validate bench clean system-packages \
	review-status
all: venv model

venv: $(GW_STAMP) $(RASA_STAMP)

$(GW_STAMP): requirements/gateway.txt
	rm -f $(VENV)/.stamp-*
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==24.3.1
	# torch first, as the CPU build on this machine's disk (a bare install pulls CUDA, GBs).
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q --prefer-binary -r requirements/gateway.txt
	touch $@

# Rasa 3.6 declares Python <3.11; its dependency set is pinned for 3.11 in requirements/rasa.txt,
# then rasa and rasa-sdk themselves go in without their (3.10-only) metadata checks.
$(RASA_STAMP): requirements/rasa.txt
	rm -f $(RASA_VENV)/.stamp-*
	test -x $(RASA_VENV)/bin/python || $(PYTHON) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/python -m pip install -q --upgrade pip==24.3.1
	$(RASA_VENV)/bin/python -m pip install -q --prefer-binary -r requirements/rasa.txt
	$(RASA_VENV)/bin/python -m pip install -q --no-deps --ignore-requires-python rasa==3.6.21 rasa-sdk==3.6.2
	touch $@

model: $(MODEL)
$(MODEL): $(BOT_INPUTS) | $(RASA_STAMP)
	mkdir -p var/mpl models
	$(RASA_ENV) $(RASA) train --config bot/config.yml --domain bot/domain --data nlu_data \
		--out models --fixed-model-name rightsline --quiet --force
	touch $@

system-packages:
	@n=$$(dpkg-query -W -f='$${Status}\n' $(DEBIAN_PACKAGES) 2>/dev/null | grep -c "ok installed"); \
	if [ "$$n" != "$(words $(DEBIAN_PACKAGES))" ]; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -q --no-install-recommends $(DEBIAN_PACKAGES) || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends $(DEBIAN_PACKAGES); }; \
	fi

# axe-core (accessibility checks injected into pages by the browser tests), from npm's registry.
$(AXE): tests/support/axe/package-lock.json
	cd tests/support/axe && npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: venv model system-packages
	$(PY) -m scripts.run

validate: $(RASA_STAMP)
	mkdir -p var/mpl
	$(RASA_ENV) $(RASA) data validate --config bot/config.yml --domain bot/domain --data nlu_data \
		--fail-on-warnings

test-unit: $(GW_STAMP) system-packages
	$(PY) -m pytest tests/unit tests/security -q

test-rasa: validate $(MODEL)
	$(RASA_ENV) $(RASA) test core --model $(MODEL) --stories tests/rasa --endpoints bot/endpoints.yml \
		--out results/core --fail-on-prediction-errors --no-plot

test-e2e: venv $(MODEL) system-packages $(AXE)
	$(PY) -m pytest tests/e2e -q

test: venv
	$(MAKE) test-unit
	$(MAKE) test-rasa
	$(MAKE) test-e2e

bench: venv model system-packages
	$(PY) -m bench.webchat_latency
	$(PY) -m bench.sms_webhook
	$(PY) -m bench.escalation_latency
	$(PY) -m bench.webchat_slow3g
	$(PY) -m bench.understanding --set heldout
	$(RASA_ENV) $(RASA_VENV)/bin/python -m bench.nlu_eval --set heldout

# Per language, how many translations wait for review because their English text changed
# (or was never reviewed); translations/review.py, `mark` after a reviewer checks them.
review-status: | $(GW_STAMP)
	$(PY) -m translations.review status

clean:
	rm -rf models results var/mpl
