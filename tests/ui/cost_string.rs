#[backstep::tool(cost = "cheap")]
fn search(query: String) -> String {
    query
}

fn main() {}
