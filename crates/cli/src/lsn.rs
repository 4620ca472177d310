//! How the command line writes LSNs: one notation everywhere, an inclusive range
//! (`LSN 0..=199999`), or `no records` for an empty log or stretch of it.

/// The LSNs `start..end` (`end` one past the last, as counts and the engine's `folded_lsn` are)
/// as the CLI prints them: `LSN 0..=13` (`LSN 5..=5` for one: the one form), `no records` for none.
pub(crate) fn range(start: u64, end: u64) -> String {
    idres_log::lsn_range(start, end)
}

/// The first and last LSN of `0..end` for JSON: `(0, end - 1)`, or nulls for no records.
pub(crate) fn first_last(end: u64) -> (Option<u64>, Option<u64>) {
    match end.checked_sub(1) {
        Some(last) => (Some(0), Some(last)),
        None => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive_and_an_empty_one_says_so() {
        assert_eq!(range(0, 200_000), "LSN 0..=199999");
        assert_eq!(range(0, 1), "LSN 0..=0");
        assert_eq!(range(14, 15), "LSN 14..=14");
        assert_eq!(range(0, 0), "no records");
        assert_eq!(range(7, 7), "no records");
    }
}
