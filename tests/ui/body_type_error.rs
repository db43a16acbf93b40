#[backstep::tool]
fn search(query: String) -> String {
    let x: u32 = "s";
    format!("{query}{x}")
}

fn main() {}
