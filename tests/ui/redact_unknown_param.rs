#[backstep::tool(redact(nope))]
fn search(api_key: String, query: String) -> String {
    format!("{api_key}{query}")
}

fn main() {}
