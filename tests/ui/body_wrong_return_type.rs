#[backstep::tool]
fn count(query: String) -> u32 {
    query
}

fn main() {}
