#[backstep::tool(skip(api_key), redact(api_key))]
fn search(api_key: String, query: String) -> String {
    format!("{api_key}{query}")
}

fn main() {}
