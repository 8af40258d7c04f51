# Sable: the two commands a new user needs are `make serve` and `make test`.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
SERVE_ARGS ?=

.PHONY: setup configure build test serve asan fuzz cuda clean

setup:
	./scripts/setup.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

configure: $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: setup
	$(MAKE) build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -LE gpu

serve: setup
	$(MAKE) build
	$(BUILD_DIR)/sable serve $(SERVE_ARGS)

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (no CUDA).
asan:
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSABLE_SANITIZE=ON \
	  -DSABLE_CUDA=OFF -DSABLE_BUILD_BENCH=OFF
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS) -LE 'gpu|e2e|slow'

# The libFuzzer targets (clang, ASan+UBSan), each run FUZZ_SECONDS from its
# seed corpus (scripts/run_fuzzers.sh): a regression check, not a campaign.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS = fuzz_tokenizer fuzz_jinja fuzz_json_schema fuzz_regex fuzz_tool_calls fuzz_openai_request \
	fuzz_model_files
fuzz:
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSABLE_FUZZ=ON \
	  -DSABLE_CUDA=OFF -DSABLE_BUILD_BENCH=OFF
	cmake --build build-fuzz -j $(JOBS) --target $(FUZZ_TARGETS)
	./scripts/run_fuzzers.sh build-fuzz/fuzz $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD_DIR) build-asan build-cuda build-fuzz
