#[backstep::tool(name = "a", name = "b")]
fn search(query: String) -> String {
    query
}

fn main() {}
