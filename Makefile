# tollgate - the two set-up commands: `make run` and `make test`.
PRESET ?= release
TEST_PRESET ?= asan
LISTEN ?= 127.0.0.1:8080
LEDGER ?= ./tollgate.db
BIN = build/$(PRESET)/tollgate
JOBS ?= $(shell nproc)

.PHONY: all deps test-deps build build-test run test test-unit test-e2e bench fuzz format lint clean

all: build

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test
	@cd tests/e2e && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; }

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

build-test: test-deps
	@cmake --preset $(TEST_PRESET) >/dev/null
	@cmake --build --preset $(TEST_PRESET) -j $(JOBS)

# Starts the gateway on 127.0.0.1:8080 in front of api.openai.com and api.anthropic.com.
run: build
	$(BIN) serve --listen $(LISTEN) --ledger $(LEDGER) \
	  --upstream openai=https://api.openai.com --upstream anthropic=https://api.anthropic.com

# Every suite: unit (cmocka, ctest) and end to end (node --test with the official SDKs),
# all under ASan+UBSan. Prints one summary line and fails when any test fails.
test: build-test
	@scripts/run-tests.sh build/$(TEST_PRESET)

bench: build
	@scripts/install-deps.sh --bench
	@bench/run.sh build/$(PRESET)/tollgate

fuzz:
	@scripts/install-deps.sh --fuzz
	@cmake --preset fuzz >/dev/null && cmake --build --preset fuzz -j $(JOBS)

format:
	@clang-format -i $$(git ls-files 'src/*.[ch]' 'tests/*.[ch]')

lint:
	@scripts/lint.sh

clean:
	rm -rf build
