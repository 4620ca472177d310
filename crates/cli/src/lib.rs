//! The pieces of the `idres` command line that other tools reuse: the input formats (native
//! NDJSON and the Segment spec) and their bounded line reader, the JSON output shapes, the fold's
//! config file, RFC 3339 time, and the seeded synthetic workload generator (`idres gen`, the
//! demo, the benchmarks).

pub mod config;
pub mod gen;
pub mod input;
pub mod json;
pub mod lines;
mod literals;
pub mod time;
