//! RFC 3339 time for the command line: the model's own functions (`idres_model::time`), which
//! the engine's callers share, re-exported under the path the CLI has always used.

pub use idres_model::time::{format_rfc3339, parse_rfc3339, push_rfc3339, TimeError};
