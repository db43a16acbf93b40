#[backstep::tool(skip_output = true)]
fn search(query: String) -> String {
    query
}

fn main() {}
