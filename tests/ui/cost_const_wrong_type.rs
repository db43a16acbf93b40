const PRICE: u32 = 3;

#[backstep::tool(cost = PRICE)]
fn search(query: String) -> String {
    query
}

fn main() {}
