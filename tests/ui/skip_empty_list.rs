#[backstep::tool(skip())]
fn search(query: String) -> String {
    query
}

fn main() {}
