//! What the tests of the real `idres` binary share: running it on a data directory and reading
//! what it printed.
#![allow(dead_code)] // each test binary uses a part of it

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value as Json;

/// A finished run of the binary.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `idres --data DATA ARGS…` with no stdin.
pub(crate) fn idres(data: &Path, args: &[&str]) -> Run {
    idres_stdin(data, args, None)
}

/// Runs `idres --data DATA ARGS…` with `stdin` (if any) written to its standard input; `gen`,
/// `completions` and `man` read no data directory and refuse `--data`, so they run without. A failed run's output is
/// printed (stderr shortened: some runs are about megabyte-long lines).
pub(crate) fn idres_stdin(data: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_idres"));
    if !args.iter().find(|a| !a.starts_with('-')).is_some_and(|c| ["gen", "completions", "man"].contains(c)) {
        cmd.arg("--data").arg(data);
    }
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().unwrap();
    if let Some(bytes) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    let Output { status, stdout, stderr } = child.wait_with_output().unwrap();
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    if run.code != 0 {
        let short: String = run.stderr.chars().take(2000).collect();
        eprintln!("idres {args:?} -> {}\nstdout:\n{}\nstderr:\n{short}", run.code, run.stdout);
    }
    run
}

/// Runs the binary and asserts it succeeded.
pub(crate) fn ok_run(data: &Path, args: &[&str]) -> Run {
    let r = idres(data, args);
    assert_eq!(r.code, 0, "idres {args:?}: {}", r.stderr);
    r
}

/// Runs the binary, asserts it succeeded, returns its stdout.
pub(crate) fn ok(data: &Path, args: &[&str]) -> String {
    ok_run(data, args).stdout
}

/// Each line of `s` as JSON.
pub(crate) fn json_lines(s: &str) -> Vec<Json> {
    s.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}
