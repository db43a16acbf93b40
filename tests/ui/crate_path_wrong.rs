// `crate = "…"` is where the generated code looks for backstep.
#[backstep::tool(crate = "crate::not_here")]
fn search(query: &str) -> usize {
    query.len()
}

fn main() {
    search("x");
}
