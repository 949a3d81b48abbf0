# Rampart: the entry points. Thin wrappers around CMake and scripts/.
#
#   make test      every check: sanitizer build + tests, format, no-malloc, Cortex-M4
#                  cross build, Clang fuzz build + fuzz smoke tests, coverage, -O2 build
#                  (make -k test runs all of them even when one fails)
#   make demo      release build, then scripts/demo
#   make fuzz      the fuzz targets for FUZZ_SECONDS (default 600) each
#   make coverage  coverage build, tests, report (HTML in build/coverage/html)
#   make size      Cortex-M4 footprint of lib/, written to docs/footprint.md
#   make bench     bench/run if it exists
#   make format    reformat all C sources in place
#   make clean     remove build/
#
# Every target that builds runs scripts/bootstrap first (silent when nothing is
# missing). Builds live in build/<variant>/ and are reused between runs.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.NOTPARALLEL:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

JOBS ?= 2
BUILD ?= build
CMAKE ?= cmake
CTEST ?= ctest
GCC ?= gcc
CLANG ?= clang
# Seconds of each fuzz target in make test (smoke) and in make fuzz.
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_SECONDS ?= 600
# Minimum line coverage of lib/mqtt in percent (the goal is 95).
COVERAGE_MIN ?= 90

export FUZZ_SECONDS COVERAGE_MIN
# Sanitizer run-time options for every test (the build decides which sanitizers).
export ASAN_OPTIONS ?= detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1
export UBSAN_OPTIONS ?= print_stacktrace=1

ASAN_DIR := $(BUILD)/asan
FUZZ_DIR := $(BUILD)/fuzz
COV_DIR := $(BUILD)/coverage
CROSS_DIR := $(BUILD)/cortex-m4
RELEASE_DIR := $(BUILD)/release
TSAN_DIR := $(BUILD)/tsan

CTEST_FLAGS := --output-on-failure -j$(JOBS)
START := $(shell date +%s)

section = @printf '\n\033[1m=== %s\033[0m\n' "$(1)"

.PHONY: help test demo bench fuzz size coverage format clean bootstrap \
	test-asan test-tsan test-format test-cross test-no-malloc test-fuzz test-coverage \
	build-asan build-tsan build-fuzz build-cross build-coverage build-release

help:
	@sed -n '3,15s/^# \{0,1\}//p' Makefile

# --- make test ------------------------------------------------------------------
test: bootstrap test-asan test-tsan test-format test-cross test-no-malloc test-fuzz \
	test-coverage build-release
	$(call section,make test: all checks passed in $$(( $$(date +%s) - $(START) )) s)

bootstrap:
	@scripts/bootstrap

build-asan: bootstrap
	$(call section,GCC build with ASan + UBSan ($(ASAN_DIR)))
	$(CMAKE) -S . -B $(ASAN_DIR) -DCMAKE_C_COMPILER=$(GCC) -DCMAKE_BUILD_TYPE=Debug \
		-DRP_SANITIZE=ON
	$(CMAKE) --build $(ASAN_DIR) -j$(JOBS)

test-asan: build-asan
	$(call section,Tests under ASan + UBSan: unit tests and fuzz corpus replay)
	$(CTEST) --test-dir $(ASAN_DIR) $(CTEST_FLAGS)

# ThreadSanitizer: rampartd with two event loops under the integration suite,
# and the loop's cross-thread posts. Not the groups whose pass depends on speed
# (Flood: latency bounds; Limits: a reader must stall for a whole write_timeout
# while TSan slows the broker several times): they run under ASan above. Nor
# the REST API's and EST's own groups (integration_api_*, integration_est_*:
# they drive the API module alone through test_api_http, one thread per request,
# no loop; ASan runs them); the RestApi group drives the API threads against the
# broker lock here. Nor the device side's groups (integration_link_*,
# integration_device_*, integration_agent_*): their programs are single-threaded
# devices, not built here; ASan runs them against an ASan rampartd.
build-tsan: bootstrap
	$(call section,GCC build with ThreadSanitizer ($(TSAN_DIR)))
	$(CMAKE) -S . -B $(TSAN_DIR) -DCMAKE_C_COMPILER=$(GCC) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DRP_TSAN=ON
	$(CMAKE) --build $(TSAN_DIR) -j$(JOBS) --target rampartd rampart test_loop

test-tsan: build-tsan
	$(call section,Tests under ThreadSanitizer: two event loops)
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" RP_TEST_LOOPS=2 \
		$(CTEST) --test-dir $(TSAN_DIR) $(CTEST_FLAGS) -R 'unit_loop|integration_' \
		-E 'integration_broker_(Flood|Limits)|integration_(api|est|link|device|agent)_'

test-format: bootstrap
	$(call section,Formatting (clang-format))
	scripts/check-format

build-cross: bootstrap
	$(call section,Cortex-M4 cross build of lib/ ($(CROSS_DIR)))
	$(CMAKE) -S . -B $(CROSS_DIR) -DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake \
		-DRP_CORE_ONLY=ON -DCMAKE_BUILD_TYPE=MinSizeRel
	$(CMAKE) --build $(CROSS_DIR) -j$(JOBS)

test-cross: build-cross

test-no-malloc: build-asan build-cross
	$(call section,No allocator in lib/ (symbol tables and sources))
	scripts/check-no-malloc $(ASAN_DIR)/lib/librampart_core.a $(CROSS_DIR)/lib/librampart_core.a

# Clang, -Werror, everything (unit tests, fuzz targets, components) with ASan +
# UBSan and libFuzzer's instrumentation; -O1 -g without NDEBUG.
build-fuzz: bootstrap
	$(call section,Clang build with libFuzzer + ASan + UBSan ($(FUZZ_DIR)))
	$(CMAKE) -S . -B $(FUZZ_DIR) -DCMAKE_C_COMPILER=$(CLANG) -DRP_FUZZ=ON \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
		-DRP_FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)
	$(CMAKE) --build $(FUZZ_DIR) -j$(JOBS)

test-fuzz: build-fuzz
	$(call section,Tests of the Clang build: unit tests and $(FUZZ_SMOKE_SECONDS) s fuzz smoke runs)
	rc=0; $(CTEST) --test-dir $(FUZZ_DIR) $(CTEST_FLAGS) -LE integration || rc=$$?; \
	cat $(FUZZ_DIR)/tests/fuzz/smoke/*/summary.txt 2>/dev/null || true; \
	exit $$rc

build-coverage: bootstrap
	$(call section,GCC coverage build ($(COV_DIR)))
	$(CMAKE) -S . -B $(COV_DIR) -DCMAKE_C_COMPILER=$(GCC) -DCMAKE_BUILD_TYPE=Debug \
		-DRP_COVERAGE=ON
	$(CMAKE) --build $(COV_DIR) -j$(JOBS)

test-coverage: build-coverage
	$(call section,Coverage: tests and line coverage of lib/mqtt (minimum $(COVERAGE_MIN)%))
	find $(COV_DIR) -name '*.gcda' -delete
	$(CTEST) --test-dir $(COV_DIR) $(CTEST_FLAGS) -LE integration
	scripts/coverage $(COV_DIR)

# --- other entry points ------------------------------------------------------------
build-release: bootstrap
	$(call section,Release build ($(RELEASE_DIR)))
	$(CMAKE) -S . -B $(RELEASE_DIR) -DCMAKE_C_COMPILER=$(GCC) -DCMAKE_BUILD_TYPE=Release \
		-DBUILD_TESTING=OFF
	$(CMAKE) --build $(RELEASE_DIR) -j$(JOBS)

demo: build-release
	$(call section,Demo)
	scripts/demo $(RELEASE_DIR)

bench:
	@if [ -x bench/run ]; then \
		$(MAKE) --no-print-directory build-release && bench/run; \
	else \
		echo "bench: no benchmarks yet (bench/run does not exist)"; \
	fi

fuzz: build-fuzz
	$(call section,Fuzzing each target for $(FUZZ_SECONDS) s)
	scripts/fuzz $(FUZZ_DIR)

size: build-cross
	$(call section,Cortex-M4 footprint of lib/)
	scripts/size-table $(CROSS_DIR) docs/footprint.md

coverage: test-coverage

format:
	scripts/check-format --fix

clean:
	rm -rf $(BUILD)
