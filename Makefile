# SPDX-License-Identifier: Apache-2.0
# The two commands of README.md: `make demo` and `make test`. Both install missing
# Debian packages first, then configure and build with CMake.

NPROC    ?= $(shell nproc 2>/dev/null || echo 2)
BUILD    ?= build
ASAN     ?= build-asan
# CI builds with -Werror; a local build only warns.
WERROR   := $(if $(CI),ON,OFF)
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan demo test test-fast test-asan bench clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCDNOPT_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(NPROC)

build-asan: deps
	cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCDNOPT_SANITIZE=ON \
	    -DCDNOPT_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(ASAN) -j$(NPROC)

demo: build
	./scripts/demo.sh $(BUILD)/bin/cdnopt

# The whole suite on the release build, then again under ASan/UBSan without the
# tests labelled slow (long training runs gain nothing from the sanitizers).
test: build build-asan
	ctest --test-dir $(BUILD) --output-on-failure -j$(NPROC)
	ctest --test-dir $(ASAN) --output-on-failure -j$(NPROC) -LE slow

test-fast: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(NPROC) -LE slow

bench: build
	./bench/run.sh $(BUILD)/bin/cdnopt

clean:
	rm -rf $(BUILD) $(ASAN)
