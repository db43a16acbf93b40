#[backstep::tool(cost = 3u32)]
fn search(query: String) -> String {
    query
}

fn main() {}
