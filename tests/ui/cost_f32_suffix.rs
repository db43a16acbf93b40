#[backstep::tool(cost = 0.5f32)]
fn search(query: String) -> String {
    query
}

fn main() {}
