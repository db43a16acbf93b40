#[backstep::tool(cost = 0.1, cost = 0.2)]
fn search(query: String) -> String {
    query
}

fn main() {}
