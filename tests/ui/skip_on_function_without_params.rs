#[backstep::tool(skip(query))]
fn ping() -> String {
    "pong".to_string()
}

fn main() {}
