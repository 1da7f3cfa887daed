# eddy: build, install, packaging and tests.
#
#   make               build target/release/libeddy.{so,a}
#   make example       build, stage-install, compile and run examples-c/hello.c
#   make test          everything CI runs (see the `test` target)
#   make test-asan     the C tests built with -fsanitize=address,undefined
#   make fuzz SEEDS=N  the seeded fuzzer of API sequences (fuzz/api_seq.c)
#   make install PREFIX=/usr/local DESTDIR=
#   make uninstall PREFIX=/usr/local DESTDIR=
#   make header        regenerate include/eddy.h with cbindgen
#
# The version lives only in Cargo.toml.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:

VERSION := $(shell sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
ifeq ($(VERSION),)
$(error cannot read the package version from Cargo.toml)
endif
VERSION_MAJOR := $(word 1,$(subst ., ,$(VERSION)))
VERSION_MINOR := $(word 2,$(subst ., ,$(VERSION)))
VERSION_PATCH := $(word 3,$(subst ., ,$(subst -, ,$(subst +, ,$(VERSION)))))
# Before 1.0 every minor is an ABI (libeddy.so.0.<minor>); same rule as build.rs.
SONAME := $(if $(filter 0,$(VERSION_MAJOR)),libeddy.so.0.$(VERSION_MINOR),libeddy.so.$(VERSION_MAJOR))
REALNAME := libeddy.so.$(VERSION)
SIZEOF_VOID_P := $(shell echo $$(( $$(getconf LONG_BIT) / 8 )))

CARGO ?= cargo
CC ?= cc
CXX ?= c++
PKG_CONFIG ?= pkg-config
CMAKE ?= cmake
VALGRIND_BIN ?= valgrind

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR ?= $(LIBDIR)/cmake/eddy
DESTDIR ?=

TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
LIB_SO := $(TARGET_DIR)/release/libeddy.so
LIB_A := $(TARGET_DIR)/release/libeddy.a
HEADER := include/eddy.h

BUILD := build
STAGE := $(abspath $(BUILD)/stage)
STAGE_LIB := $(STAGE)/lib
STAGE_PKG := PKG_CONFIG_PATH=$(STAGE_LIB)/pkgconfig
STAGE_STAMP := $(BUILD)/stage/.installed

# Flags for the C tests: the library's own flags come from pkg-config only.
TEST_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -pthread
EXAMPLE_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -pthread
FFI_TEST_SRCS := $(sort $(wildcard ffi-tests/test_*.c))
FFI_TEST_BINS := $(patsubst ffi-tests/%.c,$(BUILD)/ffi-tests/%,$(FFI_TEST_SRCS))
# The C tests again with AddressSanitizer and UBSan, in their own directory.
# The Rust library is not instrumented: ASan's interceptors check the buffers
# it hands to send/recv/read/write, and its malloc checks what C frees.
ASAN_DIR := $(BUILD)/asan
ASAN_CFLAGS := $(TEST_CFLAGS) -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
               -fno-sanitize-recover=undefined
ASAN_TEST_BINS := $(patsubst ffi-tests/%.c,$(ASAN_DIR)/ffi-tests/%,$(FFI_TEST_SRCS))
EXAMPLE_SRCS := $(sort $(wildcard examples-c/*.c))
EXAMPLE_BINS := $(patsubst examples-c/%.c,$(BUILD)/examples/%,$(EXAMPLE_SRCS))

# Flags of the sub-makes `make test` runs after it has built the library once.
SUBFLAGS = --no-print-directory EDDY_SKIP_BUILD=1
phase = printf '\n==== %s ====\n' $(1)

.PHONY: all build header install uninstall list-installed-files stage test test-cargo test-clippy test-c test-valgrind test-asan asan-bins asan-bins-built fuzz test-examples test-syscalls \
        test-header test-symbols test-consumers test-pkgconfig test-cmake test-install \
        ffi-tests ffi-tests-bins examples examples-bins example clean print-version

all: build

# `make test` builds once, then passes EDDY_SKIP_BUILD=1 to its sub-makes.
build:
ifeq ($(EDDY_SKIP_BUILD),)
	+$(CARGO) build --release
endif

print-version:
	@echo $(VERSION)

# Regenerate the committed header (tests/header.rs fails when it is stale).
header:
	+EDDY_BLESS_HEADER=1 $(CARGO) test --release --test header

# --- install ---------------------------------------------------------------

# Built only when missing, so `sudo make install` after `make` needs no cargo.
$(LIB_SO) $(LIB_A):
	+$(CARGO) build --release

# Paths the CMake config derives from its own location (relocatable).
rel = $(shell realpath -m --relative-to='$(CMAKEDIR)' '$(1)')
SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
            -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
            -e 's|@EDDY_VERSION@|$(VERSION)|g' \
            -e 's|@EDDY_VERSION_MAJOR@|$(VERSION_MAJOR)|g' \
            -e 's|@EDDY_VERSION_MINOR@|$(VERSION_MINOR)|g' \
            -e 's|@EDDY_SONAME@|$(SONAME)|g' \
            -e 's|@EDDY_SIZEOF_VOID_P@|$(SIZEOF_VOID_P)|g' \
            -e 's|@EDDY_REL_LIBDIR@|$(call rel,$(LIBDIR))|g' \
            -e 's|@EDDY_REL_INCLUDEDIR@|$(call rel,$(INCLUDEDIR))|g'

INSTALLED_FILES := $(LIBDIR)/$(REALNAME) $(LIBDIR)/$(SONAME) $(LIBDIR)/libeddy.so \
                   $(LIBDIR)/libeddy.a $(INCLUDEDIR)/eddy.h $(PKGCONFIGDIR)/eddy.pc \
                   $(CMAKEDIR)/eddyConfig.cmake $(CMAKEDIR)/eddyConfigVersion.cmake

install: $(LIB_SO) $(LIB_A) $(HEADER)
	install -d '$(DESTDIR)$(LIBDIR)' '$(DESTDIR)$(INCLUDEDIR)' \
	    '$(DESTDIR)$(PKGCONFIGDIR)' '$(DESTDIR)$(CMAKEDIR)'
	install -m 755 $(LIB_SO) '$(DESTDIR)$(LIBDIR)/$(REALNAME)'
	ln -sfn $(REALNAME) '$(DESTDIR)$(LIBDIR)/$(SONAME)'
	ln -sfn $(SONAME) '$(DESTDIR)$(LIBDIR)/libeddy.so'
	install -m 644 $(LIB_A) '$(DESTDIR)$(LIBDIR)/libeddy.a'
	install -m 644 $(HEADER) '$(DESTDIR)$(INCLUDEDIR)/eddy.h'
	$(SUBST) pkgconfig/eddy.pc.in > '$(DESTDIR)$(PKGCONFIGDIR)/eddy.pc'
	$(SUBST) cmake/eddyConfig.cmake.in > '$(DESTDIR)$(CMAKEDIR)/eddyConfig.cmake'
	$(SUBST) cmake/eddyConfigVersion.cmake.in > '$(DESTDIR)$(CMAKEDIR)/eddyConfigVersion.cmake'
	chmod 644 '$(DESTDIR)$(PKGCONFIGDIR)/eddy.pc' '$(DESTDIR)$(CMAKEDIR)/eddyConfig.cmake' \
	    '$(DESTDIR)$(CMAKEDIR)/eddyConfigVersion.cmake'

list-installed-files:
	@printf '%s\n' $(INSTALLED_FILES)

uninstall:
	rm -f $(foreach f,$(INSTALLED_FILES),'$(DESTDIR)$(f)')
	if [ -d '$(DESTDIR)$(CMAKEDIR)' ]; then rmdir --ignore-fail-on-non-empty '$(DESTDIR)$(CMAKEDIR)'; fi

# Install into build/stage, which the C tests, consumers and examples use
# (again only when something it installs changed).
stage: build
	@$(MAKE) --no-print-directory -s $(STAGE_STAMP)

$(STAGE_STAMP): $(LIB_SO) $(LIB_A) $(HEADER) pkgconfig/eddy.pc.in cmake/eddyConfig.cmake.in \
                cmake/eddyConfigVersion.cmake.in Cargo.toml Makefile
	@echo "staging into $(STAGE)"
	@$(MAKE) --no-print-directory -s install PREFIX='$(STAGE)' DESTDIR= LIBDIR='$(STAGE_LIB)' \
	    INCLUDEDIR='$(STAGE)/include' PKGCONFIGDIR='$(STAGE_LIB)/pkgconfig' \
	    CMAKEDIR='$(STAGE_LIB)/cmake/eddy'
	@touch $@

# --- tests -----------------------------------------------------------------

test:
	@$(call phase,'cargo test --release (Rust tests, header up to date)')
	+CARGO_TERM_QUIET=true $(CARGO) test --release -- --format pretty
	@$(call phase,'cargo clippy --all-targets -- -D warnings')
	@$(MAKE) $(SUBFLAGS) test-clippy
	@$(call phase,'build the library and stage-install it into $(BUILD)/stage')
	@$(MAKE) --no-print-directory stage
	@$(call phase,'C tests (ffi-tests/)')
	@$(MAKE) $(SUBFLAGS) test-c
	@$(call phase,'header compiles alone as C11 and C++17')
	@$(MAKE) $(SUBFLAGS) test-header
	@$(call phase,'exported symbols and soname')
	@$(MAKE) $(SUBFLAGS) test-symbols
	@$(call phase,'pkg-config consumers (shared and static)')
	@$(MAKE) $(SUBFLAGS) test-pkgconfig
	@$(call phase,'CMake consumer (eddy::eddy and eddy::eddy_static)')
	@$(MAKE) $(SUBFLAGS) test-cmake
	@$(call phase,'install / uninstall round trip')
	@$(MAKE) $(SUBFLAGS) test-install
	@$(call phase,'examples build and run (echo, HTTP)')
	@$(MAKE) $(SUBFLAGS) test-examples
	@if command -v strace >/dev/null 2>&1; then \
	    $(call phase,'syscall budget of the echo server (strace -c -f)'); \
	    $(MAKE) $(SUBFLAGS) test-syscalls; \
	else \
	    $(call phase,'strace not installed: skipping the syscall budget'); \
	fi
	@$(call phase,'C tests under AddressSanitizer + UBSan (and LeakSanitizer)')
	@$(MAKE) $(SUBFLAGS) test-asan
	@$(call phase,'fuzzer of API sequences under ASan + UBSan ($(TEST_FUZZ_SEEDS) seeds)')
	@$(MAKE) $(SUBFLAGS) fuzz SEEDS=$(TEST_FUZZ_SEEDS)
	@if command -v $(PYTHON) >/dev/null 2>&1; then \
	    $(call phase,'Python binding (python/: eddyloop, pytest)'); \
	    $(MAKE) $(SUBFLAGS) test-python; \
	    $(call phase,"CPython's asyncio tests on eddyloop (white-box tests excepted)"); \
	    $(MAKE) $(SUBFLAGS) test-conformance; \
	else \
	    $(call phase,'$(PYTHON) not installed: skipping the Python binding'); \
	fi
	@if command -v $(VALGRIND_BIN) >/dev/null 2>&1; then \
	    $(call phase,'C tests under valgrind'); \
	    $(MAKE) $(SUBFLAGS) test-valgrind; \
	else \
	    $(call phase,'valgrind not installed: skipping the C tests under valgrind'); \
	fi
	@$(call phase,'make test: all passed')

test-cargo:
	+$(CARGO) test --release

# Lints are errors: a warning left in is a warning nobody reads.
test-clippy:
	+CARGO_TERM_QUIET=true $(CARGO) clippy --all-targets -- -D warnings

# The packaging checks of `make test`, without the C tests.
test-consumers: test-header test-symbols test-pkgconfig test-cmake test-install

$(BUILD)/ffi-tests/%: ffi-tests/%.c ffi-tests/harness.c ffi-tests/harness.h ffi-tests/test_util.h ffi-tests/test_proto.h $(STAGE_STAMP)
	@mkdir -p $(@D)
	@$(CC) $(TEST_CFLAGS) $$($(STAGE_PKG) $(PKG_CONFIG) --cflags eddy) -o $@ $< \
	    ffi-tests/harness.c $$($(STAGE_PKG) $(PKG_CONFIG) --libs eddy) -Wl,-rpath,$(STAGE_LIB)

ffi-tests: stage
	@$(MAKE) --no-print-directory ffi-tests-bins

ffi-tests-bins: $(FFI_TEST_BINS)
	@:

# The binaries of the sources that exist now, not whatever build/ holds.
test-c: ffi-tests
	ffi-tests/run.sh $(FFI_TEST_BINS)

$(ASAN_DIR)/ffi-tests/%: ffi-tests/%.c ffi-tests/harness.c ffi-tests/harness.h ffi-tests/test_util.h $(STAGE_STAMP)
	@mkdir -p $(@D)
	@$(CC) $(ASAN_CFLAGS) $$($(STAGE_PKG) $(PKG_CONFIG) --cflags eddy) -o $@ $< \
	    ffi-tests/harness.c $$($(STAGE_PKG) $(PKG_CONFIG) --libs eddy) -Wl,-rpath,$(STAGE_LIB)

asan-bins: stage
	@$(MAKE) --no-print-directory asan-bins-built

asan-bins-built: $(ASAN_TEST_BINS)
	@:

test-asan: asan-bins
	ASAN=1 ffi-tests/run.sh $(ASAN_TEST_BINS)

# The seeded fuzzer of API sequences (fuzz/api_seq.c), under ASan+UBSan.
#   make fuzz SEEDS=1000 [FIRST_SEED=1]
SEEDS ?= 200
FIRST_SEED ?= 1
# The few seeds `make test` runs (about 10 s).
TEST_FUZZ_SEEDS := 40
FUZZ_BIN := $(ASAN_DIR)/fuzz/api_seq

$(FUZZ_BIN): fuzz/api_seq.c $(STAGE_STAMP)
	@mkdir -p $(@D)
	@$(CC) $(ASAN_CFLAGS) $$($(STAGE_PKG) $(PKG_CONFIG) --cflags eddy) -o $@ $< \
	    $$($(STAGE_PKG) $(PKG_CONFIG) --libs eddy) -Wl,-rpath,$(STAGE_LIB)

fuzz: stage
	@$(MAKE) --no-print-directory $(FUZZ_BIN)
	. ffi-tests/asan.env; $(FUZZ_BIN) $(FIRST_SEED) $(SEEDS)

test-valgrind: ffi-tests
	VALGRIND=1 ffi-tests/run.sh $(FFI_TEST_BINS)

# The header alone, strict, no feature macros.
test-header: stage
	@mkdir -p $(BUILD)/header-check
	printf '#include <eddy.h>\nint eddy_header_check(void);\nint eddy_header_check(void) { return EDDY_VERSION_MAJOR; }\n' \
	    > $(BUILD)/header-check/only_header.c
	cp $(BUILD)/header-check/only_header.c $(BUILD)/header-check/only_header.cpp
	gcc -std=c11 -Wall -Wextra -Werror -pedantic -I$(STAGE)/include \
	    -c $(BUILD)/header-check/only_header.c -o $(BUILD)/header-check/only_header.o
	g++ -std=c++17 -Wall -Wextra -Werror -pedantic -I$(STAGE)/include \
	    -c $(BUILD)/header-check/only_header.cpp -o $(BUILD)/header-check/only_header_cpp.o
	@echo 'header OK'

test-symbols: stage
	@so='$(STAGE_LIB)/$(REALNAME)'; \
	bad=$$(nm -D --defined-only "$$so" | awk 'NF >= 3 { print $$3 }' | grep -v '^eddy_' || true); \
	if [ -n "$$bad" ]; then echo "libeddy exports symbols outside eddy_*:"; echo "$$bad"; exit 1; fi; \
	n=$$(nm -D --defined-only "$$so" | awk 'NF >= 3' | wc -l); \
	if [ "$$n" -eq 0 ]; then echo "libeddy exports no symbols at all"; exit 1; fi; \
	echo "$$n exported symbols, all eddy_*"; \
	soname=$$(readelf -d "$$so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p'); \
	if [ "$$soname" != '$(SONAME)' ]; then echo "SONAME is '$$soname', want '$(SONAME)'"; exit 1; fi; \
	echo "SONAME $$soname"

# A C program through pkg-config, linked against libeddy.so and libeddy.a.
PC_CONSUMERS := ffi-tests/consumer/pc_consumer.c $(wildcard examples-c/hello.c)
test-pkgconfig: stage
	@mkdir -p $(BUILD)/consumer
	@for src in $(PC_CONSUMERS); do \
	    name=$$(basename $$src .c); \
	    echo "-- $$src, shared"; \
	    ( set -x; $(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread \
	        $$($(STAGE_PKG) $(PKG_CONFIG) --cflags eddy) -o $(BUILD)/consumer/$$name-shared $$src \
	        $$($(STAGE_PKG) $(PKG_CONFIG) --libs eddy) -Wl,-rpath,$(STAGE_LIB) ); \
	    readelf -d $(BUILD)/consumer/$$name-shared | grep -q 'NEEDED.*\[$(SONAME)\]' \
	        || { echo "$$name-shared does not need $(SONAME)"; exit 1; }; \
	    timeout 60 $(BUILD)/consumer/$$name-shared; \
	    echo "-- $$src, static"; \
	    libs=$$($(STAGE_PKG) $(PKG_CONFIG) --static --libs eddy); \
	    libs=$${libs/-leddy/-Wl,-Bstatic -leddy -Wl,-Bdynamic}; \
	    ( set -x; $(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread \
	        $$($(STAGE_PKG) $(PKG_CONFIG) --static --cflags eddy) -o $(BUILD)/consumer/$$name-static $$src \
	        $$libs ); \
	    if readelf -d $(BUILD)/consumer/$$name-static | grep -q 'NEEDED.*libeddy'; then \
	        echo "$$name-static links libeddy dynamically"; exit 1; fi; \
	    timeout 60 env -u LD_LIBRARY_PATH $(BUILD)/consumer/$$name-static; \
	done

# A C++ program through find_package(eddy CONFIG), both imported targets.
test-cmake: stage
	@command -v $(CMAKE) >/dev/null || { echo "cmake is not installed"; exit 1; }
	rm -rf $(BUILD)/consumer-cmake
	$(CMAKE) -S ffi-tests/consumer/cmake -B $(BUILD)/consumer-cmake -DCMAKE_BUILD_TYPE=Release \
	    -DCMAKE_PREFIX_PATH='$(STAGE)' -DEDDY_EXPECT_VERSION=$(VERSION_MAJOR).$(VERSION_MINOR) \
	    -DEDDY_EXPECT_FULL_VERSION=$(VERSION) --no-warn-unused-cli > $(BUILD)/consumer-cmake.log \
	    || { cat $(BUILD)/consumer-cmake.log; exit 1; }
	+$(CMAKE) --build $(BUILD)/consumer-cmake
	if readelf -d $(BUILD)/consumer-cmake/consumer_static | grep -q 'NEEDED.*libeddy'; then \
	    echo "consumer_static links libeddy dynamically"; exit 1; fi
	readelf -d $(BUILD)/consumer-cmake/consumer_shared | grep -q 'NEEDED.*\[$(SONAME)\]'
	timeout 60 $(BUILD)/consumer-cmake/consumer_shared
	timeout 60 $(BUILD)/consumer-cmake/consumer_static

# Install into a temporary DESTDIR, check the layout and that the CMake
# package works from where it landed (relocation), uninstall, check nothing
# is left.
test-install: build
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(MAKE) --no-print-directory install DESTDIR="$$tmp" PREFIX=/opt/eddy-roundtrip >/dev/null; \
	files=$$($(MAKE) --no-print-directory -s list-installed-files PREFIX=/opt/eddy-roundtrip); \
	for f in $$files; do \
	    [ -e "$$tmp$$f" ] || { echo "install did not create $$f"; exit 1; }; done; \
	[ "$$(readlink "$$tmp/opt/eddy-roundtrip/lib/$(SONAME)")" = '$(REALNAME)' ]; \
	[ "$$(readlink "$$tmp/opt/eddy-roundtrip/lib/libeddy.so")" = '$(SONAME)' ]; \
	grep -q '^prefix=/opt/eddy-roundtrip$$' "$$tmp/opt/eddy-roundtrip/lib/pkgconfig/eddy.pc"; \
	grep -q '^Version: $(VERSION)$$' "$$tmp/opt/eddy-roundtrip/lib/pkgconfig/eddy.pc"; \
	echo "installed: $$(cd "$$tmp" && find . ! -type d | sort | tr '\n' ' ')"; \
	if command -v $(CMAKE) >/dev/null; then \
	    $(CMAKE) -S ffi-tests/consumer/cmake -B "$$tmp/cmake-build" \
	        -DCMAKE_PREFIX_PATH="$$tmp/opt/eddy-roundtrip" \
	        -DEDDY_EXPECT_VERSION=$(VERSION_MAJOR).$(VERSION_MINOR) \
	        -DEDDY_EXPECT_FULL_VERSION=$(VERSION) > "$$tmp/cmake.log" \
	        || { cat "$$tmp/cmake.log"; exit 1; }; \
	    grep -q "eddy found in $$tmp/opt/eddy-roundtrip/lib/cmake/eddy" "$$tmp/cmake.log" \
	        || { echo "relocated CMake package not used:"; cat "$$tmp/cmake.log"; exit 1; }; \
	    rm -rf "$$tmp/cmake-build" "$$tmp/cmake.log"; \
	    echo "relocated CMake package OK"; \
	fi; \
	$(MAKE) --no-print-directory uninstall DESTDIR="$$tmp" PREFIX=/opt/eddy-roundtrip >/dev/null; \
	left=$$(cd "$$tmp" && find . ! -type d); \
	if [ -n "$$left" ]; then echo "uninstall left files behind:"; echo "$$left"; exit 1; fi; \
	[ ! -e "$$tmp/opt/eddy-roundtrip/lib/cmake/eddy" ] || { echo "uninstall left lib/cmake/eddy"; exit 1; }; \
	echo "install/uninstall round trip OK"

# --- examples --------------------------------------------------------------

$(BUILD)/benches/echo_load: benches/echo_load.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

# The examples run end to end: hello, and the echo client against the echo
# server (small and multi-megabyte messages) and against the same server
# driven by a poll() loop (embed_poll), the metrics server under load for
# three reports, curl against the HTTP server.
test-examples: examples-bins $(BUILD)/benches/echo_load
	@set -e; b=$(BUILD)/examples; port=$$((20000 + RANDOM % 20000)); \
	$$b/hello >/dev/null; \
	$$b/udp_echo $$((port + 2)) --selftest; \
	$$b/subprocess; \
	$$b/echo_server $$port >/dev/null & srv=$$!; \
	trap 'kill $$srv 2>/dev/null || true' EXIT; \
	for i in $$(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$$port) 2>/dev/null && break; sleep 0.1; done; \
	$$b/echo_client $$port 2000 1024; \
	$$b/echo_client $$port 5 3000000; \
	$(BUILD)/benches/echo_load $$port 100 1024 2 >/dev/null; \
	kill -INT $$srv; wait $$srv; trap - EXIT; \
	$$b/embed_poll $$((port + 4)) >/dev/null & srv=$$!; \
	trap 'kill $$srv 2>/dev/null || true' EXIT; \
	for i in $$(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$$((port + 4))) 2>/dev/null && break; sleep 0.1; done; \
	$$b/echo_client $$((port + 4)) 2000 1024; \
	$(BUILD)/benches/echo_load $$((port + 4)) 100 1024 1 >/dev/null; \
	kill -INT $$srv; wait $$srv; trap - EXIT; \
	$$b/metrics $$((port + 5)) 3 >$(BUILD)/metrics.out & srv=$$!; \
	trap 'kill $$srv 2>/dev/null || true' EXIT; \
	for i in $$(seq 50); do grep -q "echo server" $(BUILD)/metrics.out && break; sleep 0.1; done; \
	$(BUILD)/benches/echo_load $$((port + 5)) 10 1024 1.5 >/dev/null; \
	wait $$srv; trap - EXIT; \
	awk '/^utilisation=[0-9.]+%/ { n++; split($$3, c, "="); if (c[2] >= 1000) busy++ } \
	     END { if (n != 3 || !busy) { print "metrics: want 3 utilisation reports of a busy loop"; exit 1 } \
	           print "metrics: 3 utilisation reports" }' $(BUILD)/metrics.out; \
	$$b/multi_loop $$((port + 3)) 2 >$(BUILD)/multi_loop.out & srv=$$!; \
	trap 'kill $$srv 2>/dev/null || true' EXIT; \
	for i in $$(seq 50); do grep -q "with 2 loops" $(BUILD)/multi_loop.out && break; sleep 0.1; done; \
	$(BUILD)/benches/echo_load $$((port + 3)) 100 1024 1 >/dev/null; \
	kill -INT $$srv; wait $$srv; trap - EXIT; \
	awk '/^loop [0-9]+: connections=/ { split($$3, c, "="); n++; sum += c[2]; if (c[2] == 0) idle++ } \
	     END { if (n != 2 || sum != 100 || idle) { print "multi_loop: want 100 connections over 2 loops, each serving"; exit 1 } \
	           print "multi_loop: 100 connections over 2 loops" }' $(BUILD)/multi_loop.out; \
	$$b/http_hello $$((port + 1)) >/dev/null & srv=$$!; \
	trap 'kill $$srv 2>/dev/null || true' EXIT; \
	for i in $$(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$$((port + 1))) 2>/dev/null && break; sleep 0.1; done; \
	if command -v curl >/dev/null 2>&1; then \
	    body=$$(curl -sf http://127.0.0.1:$$((port + 1))/); [ "$$body" = "Hello, World!" ] || { echo "curl got: $$body"; exit 1; }; \
	    echo "curl: $$body"; \
	fi; \
	kill -INT $$srv; wait $$srv; trap - EXIT; \
	if command -v wrk >/dev/null 2>&1; then benches/http_wrk.sh $$b/http_hello 5s; fi; \
	echo "examples OK"

test-syscalls: examples-bins $(BUILD)/benches/echo_load
	@mkdir -p $(BUILD)/budget
	@cp $(BUILD)/examples/echo_server $(BUILD)/benches/echo_load $(BUILD)/budget/
	benches/syscall_budget.sh $(BUILD)/budget

$(BUILD)/examples/%: examples-c/%.c $(STAGE_STAMP)
	@mkdir -p $(@D)
	@$(CC) $(EXAMPLE_CFLAGS) $$($(STAGE_PKG) $(PKG_CONFIG) --cflags eddy) -o $@ $< \
	    $$($(STAGE_PKG) $(PKG_CONFIG) --libs eddy) -Wl,-rpath,$(STAGE_LIB)

examples: stage
	@$(MAKE) --no-print-directory examples-bins

examples-bins: $(EXAMPLE_BINS)
	@:

example: stage
	@[ -f examples-c/hello.c ] || { echo "examples-c/hello.c does not exist yet"; exit 1; }
	@$(MAKE) --no-print-directory $(BUILD)/examples/hello
	$(BUILD)/examples/hello

clean:
	$(CARGO) clean
	rm -rf $(BUILD)

# --- stress programs (issue 14) ----------------------------------------------
#
#   make stress    build stress/*.c (-O2, against the staged library) and run
#                  each: 10,000 concurrent connections, 100,000 connections
#                  of churn, a peer resetting with megabytes buffered, an
#                  EMFILE storm. Each prints its figures and fails when one
#                  breaks its rule. See docs/reliability.md.
STRESS_SRCS := $(sort $(wildcard stress/*.c))
STRESS_BINS := $(patsubst stress/%.c,$(BUILD)/stress/%,$(STRESS_SRCS))

.PHONY: stress stress-bins

$(BUILD)/stress/%: stress/%.c stress/stress_util.h $(STAGE_STAMP)
	@mkdir -p $(@D)
	$(CC) $(EXAMPLE_CFLAGS) -O2 $$($(STAGE_PKG) $(PKG_CONFIG) --cflags eddy) -o $@ $< \
	    $$($(STAGE_PKG) $(PKG_CONFIG) --libs eddy) -Wl,-rpath,$(STAGE_LIB)

stress-bins: $(STRESS_BINS)
	@:

stress: stage
	@$(MAKE) --no-print-directory stress-bins
	@failed=0; for b in $(STRESS_BINS); do \
	    $(call phase,"$$b"); \
	    $$b || failed=$$((failed + 1)); \
	done; \
	echo; echo "stress: $(words $(STRESS_BINS)) programs, $$failed failed"; [ $$failed -eq 0 ]

# --- benchmarks (issue 7) ----------------------------------------------------
#
#   make bench     build the library, the eddy and libuv benchmark programs,
#                  run every pair alternately (benches/run.sh) and print one
#                  table of medians. See docs/performance.md.
#
# The eddy programs link against a copy of target/release/libeddy.so under
# its soname in $(BUILD)/benchlib (rpath), so a rebuild of target/ during a
# run cannot change the library under a benchmark. Every program, eddy's
# examples included, is compiled with the same -O2 flags; libuv comes from
# pkg-config.
BENCH_DIR := $(BUILD)/benches
BENCH_LIB := $(abspath $(BUILD)/benchlib)
BENCH_CFLAGS := -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -pthread
BENCH_EDDY_FLAGS := -Iinclude -L$(BENCH_LIB) -l:$(SONAME) -Wl,-rpath,$(BENCH_LIB)
BENCH_EDDY_BINS := $(addprefix $(BENCH_DIR)/,timers_eddy wakeup_eddy callbacks_eddy bulk_eddy \
                   echo_server_eddy http_hello_eddy udp_echo_eddy multi_loop)
BENCH_UV_BINS := $(addprefix $(BENCH_DIR)/,timers_uv wakeup_uv callbacks_uv bulk_uv echo_uv http_uv udp_echo_uv)
BENCH_PLAIN_PROGS := bulk_peer idle_client udp_load udp_floor connect_storm http_load
BENCH_PLAIN_BINS := $(addprefix $(BENCH_DIR)/,echo_load $(BENCH_PLAIN_PROGS))

.PHONY: bench bench-bins bench-lib

bench: build
	@$(PKG_CONFIG) --exists libuv || { echo "make bench needs libuv (Debian: libuv1-dev)"; exit 1; }
	@$(MAKE) --no-print-directory bench-lib
	@$(MAKE) --no-print-directory bench-bins
	benches/run.sh $(BENCH_DIR)

bench-lib: $(BENCH_LIB)/$(SONAME)
	@:

# cp -p keeps the library's time stamp: the copy is redone (and the eddy
# programs relinked) only when cargo produced a new library.
$(BENCH_LIB)/$(SONAME): $(LIB_SO)
	@mkdir -p $(@D)
	cp -p $(LIB_SO) $(@D)/.$(SONAME).tmp
	mv -f $(@D)/.$(SONAME).tmp $@

bench-bins: $(BENCH_EDDY_BINS) $(BENCH_UV_BINS) $(BENCH_PLAIN_BINS)
	@:

$(BENCH_DIR)/%_eddy: benches/%_eddy.c benches/bench_util.h $(HEADER) $(BENCH_LIB)/$(SONAME)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_EDDY_FLAGS)

$(BENCH_DIR)/echo_server_eddy: examples-c/echo_server.c $(HEADER) $(BENCH_LIB)/$(SONAME)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_EDDY_FLAGS)

$(BENCH_DIR)/http_hello_eddy: examples-c/http_hello.c $(HEADER) $(BENCH_LIB)/$(SONAME)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_EDDY_FLAGS)

$(BENCH_DIR)/udp_echo_eddy: examples-c/udp_echo.c $(HEADER) $(BENCH_LIB)/$(SONAME)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_EDDY_FLAGS)

$(BENCH_DIR)/multi_loop: examples-c/multi_loop.c $(HEADER) $(BENCH_LIB)/$(SONAME)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_EDDY_FLAGS)

$(BENCH_DIR)/%_uv: benches/%_uv.c benches/bench_util.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $$($(PKG_CONFIG) --cflags --libs libuv)

$(addprefix $(BENCH_DIR)/,$(BENCH_PLAIN_PROGS)): $(BENCH_DIR)/%: benches/%.c benches/bench_util.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

# --- Python binding (issue 12) -----------------------------------------------
#
#   make test-python         build and install python/ (eddyloop) into a venv
#                            in $(BUILD)/python-venv, run its pytest tests
#   make test-conformance    CPython's own asyncio tests on eddyloop; fails on
#                            a failure outside conformance.py's WHITE_BOX list
#                            (part of make test)
#   make conformance-python  CPython's own asyncio tests on eddyloop and on
#                            asyncio's loop (python/tests/conformance.py)
#   make conformance         the same tests for each CPython in VERSIONS on
#                            asyncio's loop, uvloop, rloop and eddyloop, one
#                            table per version (conformance_matrix.py: its
#                            VERSIONS/LOOPS/MODULES/JOBS knobs), in a venv
#                            per version, $(BUILD)/python-venv-X.Y, with
#                            uvloop and rloop from the package index
#   make bench-python        asyncio, uvloop, rloop and eddyloop raced, pinned
#                            as make bench pins (python/benches/bench_python.py:
#                            its ROUNDS/ONLY/LOOPS knobs). See docs/python.md.
#
# The venv sees the interpreter's site-packages, so Cython and pytest
# installed there (.ci/run does) are used without a download; otherwise they
# are installed into the venv. The extension links libeddy.a, built first.
PYTHON ?= python3
PY_VENV := $(BUILD)/python-venv
PY := $(PY_VENV)/bin/python

.PHONY: test-python test-conformance conformance-python python-install conformance conformance-venvs bench-python

python-install: build
	@[ -x $(PY) ] || $(PYTHON) -m venv --system-site-packages $(PY_VENV)
	@$(PY) -c 'import Cython, pytest, setuptools, wheel' 2>/dev/null \
	    || $(PY) -m pip install -q cython pytest setuptools wheel
	EDDY_SKIP_CARGO=1 $(PY) -m pip install -q --no-build-isolation ./python

test-python: python-install
	$(PY) -m pytest -q python/tests

# make test's: every test of conformance.py's 15 modules passes on eddyloop
# but the white-box ones it lists (WHITE_BOX), for the default python3.
test-conformance: python-install
	$(PY) python/tests/conformance.py --loop eddy --check

conformance-python: python-install
	$(PY) python/tests/conformance.py --loop asyncio
	$(PY) python/tests/conformance.py --loop eddy

# Where CPython X.Y is: pyenv's newest X.Y, else pythonX.Y on PATH.
VERSIONS ?= 3.11 3.12 3.13
py_for = $(or $(lastword $(sort $(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python3))),python$(1))

conformance: conformance-venvs
	VERSIONS="$(VERSIONS)" $(PYTHON) python/tests/conformance_matrix.py

conformance-venvs: $(addprefix conformance-venv-,$(VERSIONS))

# eddyloop is reinstalled on every run (the binding may have changed); the
# rest is installed once per venv. uvloop and rloop at the versions issue 12
# measures against.
conformance-venv-%: build
	@venv=$(BUILD)/python-venv-$*; \
	[ -x $$venv/bin/python ] || $(call py_for,$*) -m venv $$venv; \
	$$venv/bin/python -c 'import Cython, pytest, setuptools, wheel, uvloop, rloop' 2>/dev/null \
	    || $$venv/bin/python -m pip install -q cython pytest setuptools wheel 'uvloop~=0.23.0' 'rloop~=0.5.0'
	EDDY_SKIP_CARGO=1 $(BUILD)/python-venv-$*/bin/python -m pip install -q --no-build-isolation ./python

bench-python: python-install $(BENCH_DIR)/echo_load
	$(PY) python/benches/bench_python.py
