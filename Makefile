# tagdigest: build, test, run, install.
#
#   make          build build/tagdigest
#   make run      install missing packages, build, run the main job on the sample config
#   make test     install missing packages, build with ASan/UBSan, run unit and end-to-end tests
#   make bench    benchmarks (numbers go to docs/BENCHMARKS.md)
#   make bench-million  SMTP send to 1,000,000 readers (about 10 minutes a run)
#   make install  PREFIX=/usr/local DESTDIR= (make uninstall: the same files)
#   make man      build/man/tagdigest.1 and tagdigest.conf.5
#
# Every library comes through pkg-config, except libetpan: its .pc file
# carries a Debian-only -specs= flag that breaks links on minimal images and
# silently turns PIE off, so we link it as plain -letpan.

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
# The installed binary finds its default templates at BINDIR/../share/
# tagdigest/templates (config.c): with a BINDIR elsewhere, the config
# must name [templates] dir.
DATADIR := $(PREFIX)/share/tagdigest
MANDIR  ?= $(PREFIX)/share/man
# systemd reads units from /usr/local/lib/systemd/system too
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
TESTDATA ?= ../shared/testdata
PYTHON  ?= /usr/bin/python3
CONFIG  ?= config/tagdigest.conf

CC      ?= cc
PKGS    := libcurl libcmark libxml-2.0 sqlite3 libpq inih gnutls libmicrohttpd glib-2.0 icu-i18n icu-uc
WARN    := -std=c11 -Wall -Wextra -Werror -Wpedantic -Wshadow -Wformat=2 \
           -Wstrict-prototypes -Wmissing-prototypes -Wno-overlength-strings
CPPFLAGS += -Iinclude -D_GNU_SOURCE
CFLAGS  ?= -O2 -g
# deliver.c runs sender threads
THREADS := -pthread
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -letpan -lm

# Debian packages the build, the tests and `make run` need.
DEB_BUILD := build-essential pkg-config libetpan-dev libcurl4-gnutls-dev \
             libcmark-dev libxml2-dev libsqlite3-dev libinih-dev \
             libgnutls28-dev libmicrohttpd-dev libglib2.0-dev libicu-dev libpq-dev tzdata
DEB_TEST  := postfix dovecot-imapd dovecot-pop3d python3-flufl.bounce python3 python3-pytest python3-aiosmtpd python3-dkim python3-nacl python3-jinja2 python3-feedparser libxml2-utils openssl valgrind time clang libclang-rt-14-dev chromium fonts-dejavu-core wrk
# Only `make bench`: nginx is the public server's peer, started by the
# bench itself on a loopback port (on a machine with systemd, Debian's
# package also starts its own service on port 80).
DEB_BENCH := nginx
# The store's tests run on PostgreSQL 15 too, started by the tests.
DEB_TEST  += postgresql-15 python3-psycopg2
# The man pages' test renders them as man(1) does (tests/e2e/test_install.py).
DEB_TEST  += groff-base man-db
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# src/<stage>/<module>.c, one folder per stage of the pipeline (README.md).
SRC      := $(wildcard src/*/*.c)
# The command line (main.c and one file per command) links into the
# binaries only: unit tests link libtd.a, which must not hold main().
# The config loader and options.c (each module's options, built from the
# config) belong to the command line too, but unit tests call them, so
# they go into the library.
CLI_SRC  := $(filter-out src/cli/options.c src/cli/config.c,$(wildcard src/cli/*.c))
LIB_SRC  := $(filter-out $(CLI_SRC),$(SRC))
OBJ      := $(LIB_SRC:src/%.c=build/obj/%.o)
ASAN_OBJ := $(LIB_SRC:src/%.c=build/asan/obj/%.o)
CLI_OBJ      := $(CLI_SRC:src/%.c=build/obj/%.o)
ASAN_CLI_OBJ := $(CLI_SRC:src/%.c=build/asan/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/asan/%)
HDRS     := $(wildcard include/tagdigest/*/*.h src/*/*.h)

SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0

.PHONY: all run test unit e2e asan leakcheck conformance fuzz fuzz-smoke fuzz-seeds \
	fuzz-markdown fuzz-markdown-smoke bench bench-million bench-smoke clean install uninstall man \
	deps deps-test deps-bench

all: build/tagdigest man

build/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(THREADS) $(PKG_CFLAGS) -c -o $@ $<

build/libtd.a: $(OBJ)
	@rm -f $@ && ar rcs $@ $^

build/tagdigest: $(CLI_OBJ) build/libtd.a
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) $(THREADS) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

# The sanitizer build: the same sources, its own objects.
build/asan/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(@D)
	@echo "  CC/SAN  $<"
	@$(CC) $(CPPFLAGS) $(WARN) -O1 -g $(SANITIZE) $(THREADS) $(PKG_CFLAGS) -c -o $@ $<

build/asan/libtd.a: $(ASAN_OBJ)
	@rm -f $@ && ar rcs $@ $^

build/asan/tagdigest: $(ASAN_CLI_OBJ) build/asan/libtd.a
	@echo "  LD/SAN  $@"
	@$(CC) -g $(SANITIZE) $(THREADS) -o $@ $^ $(PKG_LIBS)

build/asan/test_%: tests/unit/test_%.c $(wildcard tests/unit/*.h) build/asan/libtd.a
	@echo "  TEST    $@"
	@$(CC) $(CPPFLAGS) -Itests/unit $(WARN) -O1 -g $(SANITIZE) $(THREADS) $(PKG_CFLAGS) \
		-DTESTDATA='"$(abspath $(TESTDATA))"' -o $@ $< build/asan/libtd.a $(PKG_LIBS)

asan: build/asan/tagdigest $(UNIT_BIN)

# `deps` installs only what is missing, so it costs a few dpkg look-ups
# on a machine that has everything.
deps:
	@missing=""; for p in $(DEB_BUILD); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

# postfix asks a debconf question on install; "No configuration" keeps it
# from setting up a mail system: we only want smtp-sink.
deps-test: deps
	@missing=""; for p in $(DEB_TEST); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing"; \
		echo "postfix postfix/main_mailer_type select No configuration" | $(SUDO) debconf-set-selections; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

# the test packages and the bench's own, through deps-test's recipe
deps-bench:
	@$(MAKE) --no-print-directory deps-test DEB_TEST="$(DEB_TEST) $(DEB_BENCH)"

run: deps
	@$(MAKE) -s --no-print-directory build/tagdigest
	@./build/tagdigest -c $(CONFIG) run

# Unit tests that run on PostgreSQL as well as SQLite: each runs under
# tests/pg_server.py, which starts a throwaway PostgreSQL 15, names it in
# TD_TEST_PG_URL and stops it after (run alone, such a test says its
# PostgreSQL half was SKIPPED).
PG_UNIT := build/asan/test_db build/asan/test_claims

# The store's unit tests (those that open a store through
# tests/unit/store_fixture.h) run a second time on PostgreSQL:
# TD_TEST_STORE=postgres, one throwaway server for all of them, each
# store a fresh schema there.
STORE_UNIT := $(patsubst tests/unit/%.c,build/asan/%,$(shell grep -l \
	-e '"store_fixture.h"' -e '"roster_fixture.h"' tests/unit/test_*.c))

unit: asan
	@failed=0; for t in $(UNIT_BIN); do \
		case " $(PG_UNIT) " in *" $$t "*) pg="$(PYTHON) tests/pg_server.py run --";; *) pg=;; esac; \
		$(ASAN_ENV) TESTDATA=$(abspath $(TESTDATA)) $$pg $$t || failed=1; \
	done; \
	$(ASAN_ENV) TESTDATA=$(abspath $(TESTDATA)) $(PYTHON) tests/pg_server.py run -- \
		env TD_TEST_STORE=postgres sh -c \
		'failed=0; for t; do "$$t" || failed=1; done; exit $$failed' sh \
		$(STORE_UNIT) || failed=1; \
	exit $$failed

# SIGKILLs the crash-safety test lands in a run of send
CRASH_KILLS ?= 50

e2e: asan build/tagdigest man
	$(ASAN_ENV) TAGDIGEST_BIN=$(CURDIR)/build/asan/tagdigest TESTDATA=$(abspath $(TESTDATA)) \
		TD_CRASH_KILLS=$(CRASH_KILLS) \
		$(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e

# The same end-to-end tests with every site's store on PostgreSQL 15,
# started by tests/pg_server.py (as nobody when root), each site in a
# database of its own (tests/e2e/pg_store_bin.sh). Tests reach the store
# through conftest.open_store (sqlite3 or psycopg2); those that read or
# lock the SQLite file itself are marked sqlite_only and skipped here.
# `make e2e-pg` runs them all (about as long as `make e2e`); `make test`
# runs the files that exercise the store's paths most (E2E_PG_TESTS
# below: delivery and retries, the public pages' sign-ups and
# unsubscribes, clean starts, the subscriber file's sync, SMTP, ingest,
# VERP bounces, Maildir and recomposed digests), to stay near 20 minutes.
E2E_PG_TESTS ?= tests/e2e
E2E_PG_IN_TEST := $(addprefix tests/e2e/test_,delivery.py public.py first_run.py \
	subscriber_file.py send_smtp.py ingest_cli.py verp.py maildir.py recompose.py)
e2e-pg: asan build/tagdigest man
	$(ASAN_ENV) $(PYTHON) tests/pg_server.py run -- env \
		TAGDIGEST_BIN=$(CURDIR)/tests/e2e/pg_store_bin.sh \
		TD_E2E_REAL_BIN=$(CURDIR)/build/asan/tagdigest TD_E2E_BACKEND=postgres \
		TESTDATA=$(abspath $(TESTDATA)) TD_CRASH_KILLS=$(CRASH_KILLS) \
		$(PYTHON) -m pytest -q -p no:cacheprovider $(E2E_PG_TESTS) $(E2E_PG_ARGS)

# The feed parser held to Universal Feed Parser's test cases and to real
# feeds, the bounce parser to Sisimai's answers on its set of real bounces
# (docs/CONFORMANCE.md); all read $(TESTDATA) and say SKIPPED, loudly,
# when it is absent. `make test` fails the bounce tally under
# BOUNCE_MIN_STATUS_HARD percent of rows (status and hard flag agreeing):
# the rate reached, rounded down, so a change that loses ground shows.
BOUNCE_MIN_STATUS_HARD ?= 98
conformance: build/asan/tagdigest
	$(ASAN_ENV) TAGDIGEST_BIN=$(CURDIR)/build/asan/tagdigest TESTDATA=$(abspath $(TESTDATA)) \
		$(PYTHON) tests/conformance/run_feeds.py
	$(ASAN_ENV) TAGDIGEST_BIN=$(CURDIR)/build/asan/tagdigest TESTDATA=$(abspath $(TESTDATA)) \
		$(PYTHON) tests/conformance/realfeeds.py
	$(ASAN_ENV) TAGDIGEST_BIN=$(CURDIR)/build/asan/tagdigest TESTDATA=$(abspath $(TESTDATA)) \
		$(PYTHON) tests/conformance/run_bounces.py $(BOUNCE_CONFORMANCE_FLAGS)

# libFuzzer targets (tests/fuzz/fuzz_*.c), each linked against the library
# built once with the fuzzer's instrumentation. `make fuzz` runs each for
# FUZZ_TIME seconds; `make test` runs a short smoke of each (fuzz-smoke:
# about 20 s for the feed parser, FUZZ_SMOKE_TIME for each other target,
# fuzz-markdown-smoke below). Each corpus grows in build/fuzz/<target>/;
# the seeds follow it on the command line:
#   fuzz_feed         the feed parser: $(TESTDATA)/feeds, realfeeds
#   fuzz_template     the Mustache engine: the spec suite's templates
#                     (tests/fuzz/seeds.py reads $(TESTDATA)/mustache-spec
#                     at run time) and templates/
#   fuzz_header       the RFC 2047 header writer of mime.c: subscriber
#                     names and post titles (seeds.py)
#   fuzz_csv          the subscriber file, read both ways: subscribers/
#   fuzz_frontmatter  a whole post file: posts/
#   fuzz_config       tagdigest.conf: config/
#   fuzz_bounce       the bounce parser: $(TESTDATA)/bounces (Sisimai's
#                     set of real bounces, read in place) and
#                     tests/fuzz/bounce/ (plain-text formats for scrape.c)
FUZZ_TIME ?= 300
FUZZ_SMOKE_TIME ?= 7
FUZZ_FLAGS := -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJ := $(LIB_SRC:src/%.c=build/fuzz/obj/%.o)
FUZZ_SEEDS := build/fuzz/seeds
FUZZ_TARGETS := template header csv frontmatter config bounce
seeds_template    := $(FUZZ_SEEDS)/template templates
seeds_header      := $(FUZZ_SEEDS)/header
seeds_csv         := subscribers
seeds_frontmatter := posts
seeds_config      := config
seeds_bounce      := tests/fuzz/bounce $(wildcard $(TESTDATA)/bounces/bsd $(TESTDATA)/bounces/not)
maxlen_template   := 4096
maxlen_header     := 2048
maxlen_csv        := 65536
maxlen_frontmatter := 65536
maxlen_config     := 16384
maxlen_bounce     := 131072

build/fuzz/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(@D)
	@echo "  CC/FUZZ $<"
	@clang $(CPPFLAGS) -std=c11 $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(THREADS) \
		$(PKG_CFLAGS) -c -o $@ $<

build/fuzz/libtd.a: $(FUZZ_OBJ)
	@rm -f $@ && ar rcs $@ $^

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/unit/*.h) build/fuzz/libtd.a
	@mkdir -p build/fuzz/$*
	@echo "  FUZZ    $@"
	@clang $(CPPFLAGS) -Itests/unit -std=c11 $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer $(THREADS) \
		$(PKG_CFLAGS) -o $@ $< build/fuzz/libtd.a $(PKG_LIBS)

# Written afresh on each run: the seeds follow the test data as it is.
fuzz-seeds:
	@rm -rf $(FUZZ_SEEDS)
	@$(PYTHON) tests/fuzz/seeds.py $(FUZZ_SEEDS) $(TESTDATA)

# One target over its corpus and seeds: fuzz-run-<target> for FUZZ_TIME
# seconds, fuzz-smoke-<target> for FUZZ_SMOKE_TIME.
FUZZ_RUN = build/fuzz/fuzz_$* -max_len=$(maxlen_$*) -timeout=10 \
	-artifact_prefix=build/fuzz/$*- build/fuzz/$* $(seeds_$*)
fuzz-run-%: build/fuzz/fuzz_% fuzz-seeds
	$(FUZZ_RUN) -max_total_time=$(FUZZ_TIME)
fuzz-smoke-%: build/fuzz/fuzz_% fuzz-seeds
	$(FUZZ_RUN) -max_total_time=$(FUZZ_SMOKE_TIME)

fuzz: deps-test build/fuzz/fuzz_feed $(FUZZ_TARGETS:%=fuzz-run-%)
	build/fuzz/fuzz_feed -max_total_time=$(FUZZ_TIME) -max_len=65536 build/fuzz/feed \
		$(wildcard $(TESTDATA)/feeds) $(wildcard $(TESTDATA)/realfeeds)
	@$(MAKE) --no-print-directory fuzz-markdown

fuzz-smoke: build/fuzz/fuzz_feed $(FUZZ_TARGETS:%=fuzz-smoke-%)
	build/fuzz/fuzz_feed -max_total_time=20 -max_len=65536 build/fuzz/feed \
		$(wildcard $(TESTDATA)/feeds) $(wildcard $(TESTDATA)/realfeeds)

# libFuzzer on the Markdown path of the posts folder. Its smoke first runs
# each generated pathological post once (tests/fuzz/gen_markdown_corpus.py:
# inputs that made cmark 0.30 take seconds to minutes): one that takes
# FUZZ_MD_TIMEOUT seconds fails the run. Then it fuzzes briefly.
FUZZ_MD_TIMEOUT ?= 10

fuzz-markdown: deps-test build/fuzz/fuzz_markdown
	build/fuzz/fuzz_markdown -max_total_time=$(FUZZ_TIME) -max_len=65536 \
		-timeout=$(FUZZ_MD_TIMEOUT) build/fuzz/markdown posts

fuzz-markdown-smoke: build/fuzz/fuzz_markdown
	@rm -rf build/fuzz/md-stress
	$(PYTHON) tests/fuzz/gen_markdown_corpus.py build/fuzz/md-stress
	build/fuzz/fuzz_markdown -timeout=$(FUZZ_MD_TIMEOUT) build/fuzz/md-stress/*.md
	build/fuzz/fuzz_markdown -max_total_time=20 -max_len=65536 \
		-timeout=$(FUZZ_MD_TIMEOUT) build/fuzz/markdown posts

leakcheck: build/tagdigest
	tests/leakcheck.sh build/tagdigest

# The closing line of the run is pytest's "N passed", which CI reads.
# Everything the steps run is built first, TEST_JOBS at a time (the
# steps themselves run one after another: several of them measure time).
TEST_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps-test
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) asan build/tagdigest man \
		build/fuzz/fuzz_feed build/fuzz/fuzz_markdown $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory conformance \
		BOUNCE_CONFORMANCE_FLAGS="--min-status-hard $(BOUNCE_MIN_STATUS_HARD)"
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory fuzz-markdown-smoke
	@$(MAKE) --no-print-directory leakcheck
	@$(MAKE) --no-print-directory bench-smoke
	@$(MAKE) --no-print-directory e2e-pg E2E_PG_TESTS="$(E2E_PG_IN_TEST)"
	@$(MAKE) --no-print-directory e2e

bench: deps-bench build/tagdigest
	$(PYTHON) tests/bench/bench_send.py --bin build/tagdigest --subscribers 10000
	$(PYTHON) tests/bench/bench_render.py --bin build/tagdigest --subscribers 5000
	$(PYTHON) tests/bench/bench_ingest.py --bin build/tagdigest --items 1000
	$(PYTHON) tests/bench/bench_ingest.py --bin build/tagdigest --items 1000 --wordpress
	$(PYTHON) tests/bench/bench_markdown.py --bin build/tagdigest
	$(PYTHON) tests/bench/bench_smtp.py --bin build/tagdigest --subscribers 100000 --small 10000 --runs 3
	$(PYTHON) tests/bench/bench_feeds_memory.py --bin build/tagdigest --feeds 10,40 --mb 9
	$(PYTHON) tests/bench/bench_public.py --bin build/tagdigest
	$(PYTHON) tests/bench/bench_bounces.py --bin build/tagdigest --testdata $(abspath $(TESTDATA))
	$(PYTHON) tests/bench/bench_workers.py --bin build/tagdigest --subscribers 100000

# The send to a million readers, on its own: each run takes about ten
# minutes on two cores (MILLION_RUNS=3 for a median), plus the peak RSS
# at 10,000 readers to compare with.
MILLION_RUNS ?= 1
bench-million: deps-bench build/tagdigest
	$(PYTHON) tests/bench/bench_smtp.py --bin build/tagdigest --subscribers 1000000 \
		--small 10000 --connections 4 --runs $(MILLION_RUNS)

# A short run of the benchmark inside `make test`, so it cannot rot.
bench-smoke: build/tagdigest
	$(PYTHON) tests/bench/bench_send.py --bin build/tagdigest --subscribers 200
	$(PYTHON) tests/bench/bench_smtp.py --bin build/tagdigest --subscribers 300 --small 100
	$(PYTHON) tests/bench/bench_feeds_memory.py --bin build/tagdigest --feeds 2,4 --mb 1
	$(PYTHON) tests/bench/bench_ingest.py --bin build/tagdigest --items 50 --runs 1 --wordpress --no-peer
	$(PYTHON) tests/bench/bench_public.py --bin build/tagdigest --smoke --no-peer
	$(PYTHON) tests/bench/bench_bounces.py --bin build/tagdigest --testdata $(abspath $(TESTDATA)) --smoke
	$(PYTHON) tests/bench/bench_workers.py --bin build/tagdigest --subscribers 300

# The man pages: tagdigest.1 is written by hand (docs/man/), with the
# version filled in; tagdigest.conf.5 is generated from the config
# reader's own table (tools/conf_doc.c), so it cannot drift from it.
VERSION := $(shell sed -n 's/.*TD_VERSION "\(.*\)".*/\1/p' include/tagdigest/core/version.h)

build/conf-doc: tools/conf_doc.c build/libtd.a
	@echo "  LD      $@"
	@$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(THREADS) $(PKG_CFLAGS) -o $@ $< \
		build/libtd.a $(PKG_LIBS) $(LDFLAGS)

build/man/tagdigest.conf.5: build/conf-doc
	@mkdir -p $(@D)
	@echo "  GEN     $@"
	@build/conf-doc > $@.tmp && mv $@.tmp $@ || { rm -f $@.tmp; exit 1; }

build/man/tagdigest.1: docs/man/tagdigest.1 include/tagdigest/core/version.h
	@mkdir -p $(@D)
	@sed 's/@VERSION@/$(VERSION)/' $< > $@

man: build/man/tagdigest.1 build/man/tagdigest.conf.5

# What install copies besides the binary and the man pages. The sample
# config is the repo's, minus its templates dir: an installed site falls
# back to the installed templates. The units' ExecStart names BINDIR.
# Both are rewritten by install itself, so a PREFIX given to install
# alone is the one they name.
TEMPLATE_FILES = $(shell find templates -type f ! -name '*~' ! -name '.*' | sort)
UNITS := tagdigest.service tagdigest.timer tagdigest-public.service
COMPLETION := contrib/bash-completion/tagdigest
EXAMPLE_SED := 's|^dir = \.\./templates$$|; dir = templates  (default: templates/ next to this file, else $(DATADIR)/templates)|'

install: build/tagdigest man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(DATADIR) $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 build/tagdigest $(DESTDIR)$(BINDIR)/tagdigest
	install -m 0644 build/man/tagdigest.1 $(DESTDIR)$(MANDIR)/man1/tagdigest.1
	install -m 0644 build/man/tagdigest.conf.5 $(DESTDIR)$(MANDIR)/man5/tagdigest.conf.5
	@for f in $(TEMPLATE_FILES); do \
		install -D -m 0644 $$f $(DESTDIR)$(DATADIR)/$$f || exit 1; \
	done
	sed -e $(EXAMPLE_SED) config/tagdigest.conf > $(DESTDIR)$(DATADIR)/tagdigest.conf.example
	@! grep -q '^dir = ' $(DESTDIR)$(DATADIR)/tagdigest.conf.example || \
		{ echo "install: the sample config still names a templates dir"; exit 1; }
	@for u in $(UNITS); do \
		sed 's|/usr/local/bin/tagdigest|$(BINDIR)/tagdigest|g' docs/systemd/$$u \
			> $(DESTDIR)$(SYSTEMDUNITDIR)/$$u || exit 1; \
	done
	chmod 0644 $(DESTDIR)$(DATADIR)/tagdigest.conf.example $(UNITS:%=$(DESTDIR)$(SYSTEMDUNITDIR)/%)
	install -m 0644 $(COMPLETION) $(DESTDIR)$(BASHCOMPDIR)/tagdigest

# Removes exactly the files install put there, then the folders that
# are tagdigest's own once empty; shared folders (bin, man1, ...) stay.
# A folder that still holds files the operator added (a custom template)
# is kept and named on stderr: the operator's files are never removed,
# and they are no reason to fail.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tagdigest $(DESTDIR)$(MANDIR)/man1/tagdigest.1 \
		$(DESTDIR)$(MANDIR)/man5/tagdigest.conf.5 \
		$(DESTDIR)$(DATADIR)/tagdigest.conf.example \
		$(UNITS:%=$(DESTDIR)$(SYSTEMDUNITDIR)/%) $(DESTDIR)$(BASHCOMPDIR)/tagdigest
	rm -f $(TEMPLATE_FILES:%=$(DESTDIR)$(DATADIR)/%)
	@for d in $$(find templates -depth -type d) ''; do \
		p="$(DESTDIR)$(DATADIR)$${d:+/$$d}"; \
		[ -d "$$p" ] || continue; \
		if [ -n "$$(ls -A "$$p")" ]; then \
			echo "uninstall: kept $$p: not empty" >&2; \
		else \
			rmdir "$$p" || exit 1; \
		fi; \
	done

clean:
	rm -rf build
