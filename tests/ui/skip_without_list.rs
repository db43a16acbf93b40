#[backstep::tool(skip = "query")]
fn search(query: String) -> String {
    query
}

fn main() {}
