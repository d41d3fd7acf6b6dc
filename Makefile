# latchkey — the developer's entry points. The README's quick start is `make run` and
# `make test`.

CARGO ?= cargo

.PHONY: run demo test lint deny fmt bench migrate build manifests e2e fuzz image chaos

## Start the server on its embedded defaults (development, SQLite under data/). It uses the
## Redis at redis.url when one answers, else a redis-server it starts under data/, else the
## in-process memory store, and says which.
run:
	LATCHKEY_ENV=$${LATCHKEY_ENV:-development} $(CARGO) run --bin latchkey -- serve --dev-store

## latchkey in development with fake Google, GitHub and vision API on loopback, the example
## extension allowed (examples/demo.rs, examples/demo.toml); prints what to open; Ctrl-C stops.
demo:
	$(CARGO) run --example demo

## Every test: unit tests, the store suite and the HTTP integration tests, against a real Redis
## (started for the run when none answers) and SQLite; set LATCHKEY__DATABASE__URL to a
## postgres:// URL to run them on PostgreSQL.
test:
	scripts/with-redis.sh $(CARGO) test --workspace

## Formatting and clippy, as CI runs them.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Supply chain, by deny.toml: licences, duplicate versions (warnings), wildcards and sources,
## and known vulnerabilities when the RustSec advisory database can be fetched (otherwise a
## line says the advisory check was skipped). Needs cargo-deny (.ci/run installs it).
deny:
	scripts/deny.sh

fmt:
	$(CARGO) fmt --all

## latchkey's /healthz and authenticated /api/user/info beside an actix-session peer and a bare
## one-GET peer, in rotated rounds on one Redis, plus Redis bytes per session (docs/performance.md).
bench:
	$(CARGO) bench --bench http

## Apply pending migrations to the configured database.
migrate:
	$(CARGO) run --bin latchkey -- migrate up

build:
	$(CARGO) build --release --bin latchkey

## Validate the Kubernetes manifests (deploy/kubernetes) and the Dockerfile offline: kustomize
## render, Kubernetes 1.30 schemas, cross-object checks. Installs its tools on first use.
manifests:
	scripts/validate-manifests.sh

## The browser tests: the example extension in headless Chromium (Debian's chromium package),
## then in headless Firefox ESR (firefox-esr; puppeteer-core never downloads a browser here),
## against latchkey and the fake providers; screenshots and logs in e2e/test-results/.
e2e:
	PUPPETEER_SKIP_DOWNLOAD=1 npm ci --prefix e2e --no-audit --no-fund
	scripts/with-redis.sh node e2e/run.mjs

## Schemathesis against /openapi.json of a live debug server: no 5xx, every answer as documented.
fuzz:
	scripts/fuzz-api.sh

## Build the Dockerfile with podman as CI does and check the image from its filesystem
## (base images made locally once: debootstrap and this machine's Rust toolchain).
image:
	scripts/ci-image.sh

## Faults under load, as an operator would run them (not in CI; about 12 minutes): three
## replicas behind haproxy, wrk, real sign-ins through the fakes; rolling restart, Redis
## killed, a cluster master killed, PostgreSQL refused, a soak (CHAOS_SOAK seconds, default
## 300), revoke-all against 50 logins. 127.0.0.1 only. docs/operations.md, "Faults under load".
chaos:
	python3 scripts/chaos.py
