#[backstep::tool(name = 42)]
fn search(query: String) -> String {
    query
}

fn main() {}
