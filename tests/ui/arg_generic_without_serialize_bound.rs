#[backstep::tool]
fn search<Q: std::fmt::Display>(query: Q) -> String {
    query.to_string()
}

fn main() {}
