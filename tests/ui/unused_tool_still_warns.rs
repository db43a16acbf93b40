#![deny(dead_code, unused_variables, unused_mut, unused_must_use)]
// The user's own lints still fire through #[tool]: an unused tool function is
// dead code, an unused local in its body is still reported, and `#[must_use]`
// still applies to callers.

#[backstep::tool]
fn never_called(x: u32) -> u32 {
    let mut unused = 1;
    x
}

#[must_use]
#[backstep::tool]
fn important() -> u32 {
    7
}

fn main() {
    important();
}
