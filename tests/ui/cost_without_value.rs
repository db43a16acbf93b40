#[backstep::tool(cost)]
fn search(query: String) -> String {
    query
}

fn main() {}
