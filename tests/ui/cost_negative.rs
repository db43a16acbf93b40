#[backstep::tool(cost = -0.5)]
fn search(query: String) -> String {
    query
}

fn main() {}
