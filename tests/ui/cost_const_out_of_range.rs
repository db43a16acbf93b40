// A constant cost is checked when rustc evaluates it; the error underlines
// the whole expression.
const PRICE: f64 = 0.5;

#[backstep::tool(cost = PRICE * -2.0)]
fn negative(query: String) -> String {
    query
}

#[backstep::tool(cost = PRICE * 1e7)]
fn too_large(query: String) -> String {
    query
}

#[backstep::tool(cost = f64::NAN)]
fn not_a_number(query: String) -> String {
    query
}

fn main() {
    let _ = (negative(String::new()), too_large(String::new()), not_a_number(String::new()));
}
