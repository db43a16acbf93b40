// A price in cents written as dollars, or a slip of the exponent.
#[backstep::tool(cost = 3e7)]
fn search(query: String) -> String {
    query
}

// Below a picodollar: would be recorded as $0.
#[backstep::tool(cost = 1e-15)]
fn tiny(n: u32) -> u32 {
    n
}

fn main() {}
