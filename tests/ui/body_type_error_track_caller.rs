#[backstep::tool]
#[track_caller]
fn search(query: String) -> String {
    let x: u32 = "s";
    format!("{query}{x}")
}

fn main() {}
