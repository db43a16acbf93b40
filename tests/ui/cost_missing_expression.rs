#[backstep::tool(cost = , name = "search")]
fn search(query: String) -> String {
    query
}

fn main() {}
