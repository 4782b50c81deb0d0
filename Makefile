# A thin wrapper over meson: `make`, `make test`, `make bench`, `make fuzz`.
BUILD ?= build

.PHONY: all deps test test-fast bench fuzz format clean

all:
	./scripts/build.sh $(BUILD)

deps:
	./scripts/install-deps.sh

# The whole suite, plain and under ASan+UBSan, and the concurrency tests under TSan (what CI runs).
test:
	./scripts/test.sh

# The plain build's suite only.
test-fast: all
	meson test -C $(BUILD) --print-errorlogs

bench: all
	./bench/run.sh $(BUILD)

# libFuzzer (clang) on module acceptance; FUZZ_SECONDS per run, corpus in tests/fuzz/corpus.
FUZZ_SECONDS ?= 60
fuzz:
	./tests/fuzz/run.sh $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h' | grep -v '^tests/fixtures/')

clean:
	rm -rf build build-asan build-tsan build-fuzz
