#[backstep::tool]
const fn limit(n: u32) -> u32 {
    n
}

fn main() {}
