#[backstep::tool(foo)]
fn search(query: String) -> String {
    query
}

fn main() {}
