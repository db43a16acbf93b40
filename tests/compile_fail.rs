//! Every misuse of `#[backstep::tool]` gives one clear diagnostic, pinned in
//! `tests/ui/*.stderr`. Regenerate with
//! `TRYBUILD=overwrite cargo test --test compile_fail` and review the diff.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
