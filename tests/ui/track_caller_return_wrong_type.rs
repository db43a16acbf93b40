#[backstep::tool]
#[track_caller]
fn count(query: String) -> u32 {
    if query.is_empty() {
        return "none";
    }
    1
}

fn main() {}
