//! How the command line speaks: `--quiet` and `--color` decided once, then notes, warnings and
//! errors on stderr (`idres: …`) and the few colours on stdout (`paint`). JSON is never painted.

use std::fmt::Display;
use std::io::IsTerminal;
use std::sync::OnceLock;

use crate::flags::ColorWhen;

/// The settings in force, set once by `main` (the defaults until then: not quiet, no colour).
#[derive(Clone, Copy, Default)]
struct Settings {
    quiet: bool,
    color_stdout: bool,
    color_stderr: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

fn settings() -> Settings {
    SETTINGS.get().copied().unwrap_or_default()
}

/// Whether `when` colours a stream that `is_terminal` (or not), under the environment `env`
/// (`NO_COLOR` set and not empty turns `auto` off, as does `TERM=dumb`; `CLICOLOR_FORCE` set and
/// not `0` turns it on: <https://no-color.org>, <https://bixense.com/clicolors>).
fn colours(when: ColorWhen, is_terminal: bool, env: &dyn Fn(&str) -> Option<String>) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
            if set("NO_COLOR") {
                false
            } else if env("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0") {
                true
            } else {
                is_terminal && env("TERM").as_deref() != Some("dumb")
            }
        }
    }
}

/// Decides the settings from the flags (the first call wins).
pub(crate) fn init(quiet: bool, when: ColorWhen) {
    let env = |name: &str| std::env::var(name).ok();
    let _ = SETTINGS.set(Settings {
        quiet,
        color_stdout: colours(when, std::io::stdout().is_terminal(), &env),
        color_stderr: colours(when, std::io::stderr().is_terminal(), &env),
    });
}

/// The colour clap's own help and usage errors use, read from the arguments before they are
/// parsed (`--color WHEN` or `--color=WHEN`, the last one given; `auto` otherwise).
pub(crate) fn clap_color(args: &[std::ffi::OsString]) -> clap::ColorChoice {
    let mut choice = clap::ColorChoice::Auto;
    let mut args = args.iter().filter_map(|a| a.to_str());
    while let Some(arg) = args.next() {
        let value = match arg.strip_prefix("--color") {
            Some("") => args.next(),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        choice = match value {
            Some("always") => clap::ColorChoice::Always,
            Some("never") => clap::ColorChoice::Never,
            Some("auto") => clap::ColorChoice::Auto,
            _ => choice,
        };
    }
    choice
}

/// `--quiet` is in force: no progress, no notes, no summaries of commands that change data.
pub(crate) fn quiet() -> bool {
    settings().quiet
}

/// What colours mean here: a short list, so that the output stays calm.
#[derive(Clone, Copy)]
pub(crate) enum Paint {
    /// A check that passed (`verify: ok`): green.
    Good,
    /// A problem or a failed check: bold red.
    Bad,
    /// Something to look at (a rejection's reason, a warning): yellow.
    Notice,
    /// A heading or a key (a profile's id, a section's name): bold.
    Heading,
}

impl Paint {
    fn code(self) -> &'static str {
        match self {
            Paint::Good => "32",
            Paint::Bad => "1;31",
            Paint::Notice => "33",
            Paint::Heading => "1",
        }
    }
}

fn paint_if(on: bool, p: Paint, text: &str) -> String {
    if on {
        format!("\x1b[{}m{text}\x1b[0m", p.code())
    } else {
        text.to_string()
    }
}

/// `text` for stdout, coloured when stdout is.
pub(crate) fn paint(p: Paint, text: &str) -> String {
    paint_if(settings().color_stdout, p, text)
}

/// `idres: message` on stderr, unless `--quiet`: what a command did or found that is not its
/// result (an open's recovery, a read-only open's reason, a quarantine file).
pub(crate) fn note(message: impl Display) {
    if !quiet() {
        eprintln!("idres: {message}");
    }
}

/// `idres: warning: message` on stderr, also under `--quiet`: nothing failed, but the user
/// should know (the store is behind, a snapshot could not be written).
pub(crate) fn warning(message: impl Display) {
    eprintln!("idres: {}: {message}", paint_if(settings().color_stderr, Paint::Notice, "warning"));
}

/// `idres: message` on stderr, the prefix in red when stderr is coloured: the command failed.
pub(crate) fn error(message: impl Display) {
    eprintln!("{} {message}", paint_if(settings().color_stderr, Paint::Bad, "idres:"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colours_terminals_unless_no_color_or_a_dumb_terminal() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert!(colours(ColorWhen::Auto, true, &env(&[])));
        assert!(!colours(ColorWhen::Auto, false, &env(&[])));
        assert!(!colours(ColorWhen::Auto, true, &env(&[("NO_COLOR", "1")])));
        assert!(colours(ColorWhen::Auto, true, &env(&[("NO_COLOR", "")])), "an empty NO_COLOR is unset");
        assert!(!colours(ColorWhen::Auto, true, &env(&[("TERM", "dumb")])));
        assert!(colours(ColorWhen::Auto, false, &env(&[("CLICOLOR_FORCE", "1")])));
        assert!(!colours(ColorWhen::Auto, false, &env(&[("CLICOLOR_FORCE", "0")])));
        assert!(colours(ColorWhen::Always, false, &env(&[("NO_COLOR", "1")])), "a flag beats the environment");
        assert!(!colours(ColorWhen::Never, true, &env(&[("CLICOLOR_FORCE", "1")])));
    }

    #[test]
    fn clap_is_told_the_colour_before_parsing() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(clap_color(&args(&["idres", "--color", "never", "stats"])), clap::ColorChoice::Never);
        assert_eq!(clap_color(&args(&["idres", "stats", "--color=always"])), clap::ColorChoice::Always);
        assert_eq!(clap_color(&args(&["idres", "stats"])), clap::ColorChoice::Auto);
        assert_eq!(clap_color(&args(&["idres", "--colorful"])), clap::ColorChoice::Auto);
    }

    #[test]
    fn paint_wraps_in_one_sgr_code_and_resets() {
        assert_eq!(paint_if(true, Paint::Good, "ok"), "\x1b[32mok\x1b[0m");
        assert_eq!(paint_if(false, Paint::Bad, "no"), "no");
    }
}
