# The everyday commands. Each recipe is a plain cargo command you can copy.

# List the recipes
default:
    @just --list

# The main job: generate a workload, ingest it, summarise (into ./idres-demo)
demo records="200000":
    cargo run --release -- demo --records {{records}}

# Build everything
build:
    cargo build --workspace --all-targets

# The test suite (the README's test command)
test:
    cargo test --workspace

# More proptest cases than CI runs
test-deep cases="2000":
    PROPTEST_CASES={{cases}} cargo test --workspace --release

# Formatting and lints, as CI checks them
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Format the code
fmt:
    cargo fmt --all

# Criterion benches (set IDRES_BENCH_DIR to put durable appends on a chosen disk)
bench:
    cargo bench -p idres-bench

# The comparison harness: one workload against the limits and SQLite (docs/PERFORMANCE.md)
bench-compare records="2000000" seed="1":
    cargo run --release -p idres-bench -- compare --records {{records}} --seed {{seed}}

# Build the fuzz targets (stable toolchain; needs `cargo install cargo-fuzz --locked`)
fuzz-build:
    cd fuzz && cargo fuzz build --sanitizer none -O -a

# Run one fuzz target, e.g. `just fuzz log_recover 300`
fuzz target seconds="60":
    cd fuzz && cargo fuzz run --sanitizer none -O -a {{target}} -- -max_total_time={{seconds}}

# Everything CI runs
ci:
    bash .ci/run
