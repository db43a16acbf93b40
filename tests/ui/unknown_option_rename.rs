#[backstep::tool(rename = "web_search")]
fn search(query: String) -> String {
    query
}

fn main() {}
