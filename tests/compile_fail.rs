//! Misuse that must not compile: every mistake the TypeScript original's types would catch.

#[test]
fn misuse_does_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
