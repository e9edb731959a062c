//! Expansion errors point at the offending item with a clear message: each
//! file of `tests/ui` fails to build with the error in its `.stderr`.

#[test]
fn expansion_errors() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
