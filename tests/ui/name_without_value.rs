#[backstep::tool(name)]
fn search(query: String) -> String {
    query
}

fn main() {}
