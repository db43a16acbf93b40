#[backstep::tool(name = "search" cost = 0.1)]
fn search(query: String) -> String {
    query
}

fn main() {}
