#[backstep::tool(skip(query, query))]
fn search(query: String) -> String {
    query
}

fn main() {}
