fn price() -> f64 {
    0.25
}

#[backstep::tool(cost = price())]
fn search(query: String) -> String {
    query
}

fn main() {}
