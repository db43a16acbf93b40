#[backstep::tool(skip(nope))]
fn search(query: String, limit: u32) -> String {
    format!("{query}{limit}")
}

fn main() {}
