# Thin wrapper over CMake + CTest.  See README.md.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
PREFIX ?= /usr/local

.PHONY: all deps build demo check test bench gups gups-quick info clean asan tsan install

all: build

# Install what is missing (Debian 12, as root).  Idempotent.
deps:
	./scripts/install-deps.sh

build:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# Build and run the demo (scripts/quickstart.sh also installs what is missing).
demo: build
	$(BUILD)/hetmem info
	$(BUILD)/hetmem demo

# Quick start, command 2: install what is missing, build, run the whole test suite.
check: deps build
	cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 300

test: check

bench: build
	./bench/run.sh $(BUILD)

# GUPS (bench/gups.c): the full run takes about half an hour (8 GiB over a
# 2 GiB budget); gups-quick is a two-minute smoke run.
gups: build
	./bench/gups.sh $(BUILD)

gups-quick: build
	./bench/gups.sh $(BUILD) --quick

asan:
	$(MAKE) check BUILD=build-asan CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Debug -DHM_SANITIZE=address,undefined"

tsan:
	$(MAKE) check BUILD=build-tsan CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Debug -DHM_SANITIZE=thread"

# Install the CLI, the libraries, hetmem.h, hetmem.pc and the man page under
# PREFIX (default /usr/local; DESTDIR is honoured by cmake --install).
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf build build-asan build-tsan
