#[backstep::tool(skip_ouput)]
fn search(query: String) -> String {
    query
}

fn main() {}
