#[backstep::tool]
struct Search {
    query: String,
}

fn main() {}
