#[backstep::tool(skip_all, skip(query))]
fn search(query: String) -> String {
    query
}

fn main() {}
