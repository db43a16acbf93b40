#[backstep::tool(cost = true)]
fn search(query: String) -> String {
    query
}

fn main() {}
