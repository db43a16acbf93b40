#[backstep::tool(skip(client api_key))]
fn search(client: String, api_key: String, query: String) -> String {
    format!("{client}{api_key}{query}")
}

fn main() {}
