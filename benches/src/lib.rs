//! Shared helpers for the idres benchmarks.
