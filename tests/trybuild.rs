//! The compile-time contract of `#[derive(Session)]`: every misuse in `trybuild/fail/` must fail
//! with the errors recorded in its `.stderr` (regenerate with `TRYBUILD=overwrite` and review),
//! and every case in `trybuild/pass/` must compile and run.

#[test]
fn derive_session() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("trybuild/fail/*.rs");
    cases.pass("trybuild/pass/*.rs");
}
