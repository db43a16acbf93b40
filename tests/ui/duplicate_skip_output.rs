#[backstep::tool(skip_output, skip_output)]
fn search(query: String) -> String {
    query
}

fn main() {}
