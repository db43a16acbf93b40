//! Regression: a `cost` that names the function's generic parameter
//! (`P::PRICE`) must stay inside the function, where `P` exists: a `const`
//! item nested in the function cannot use it (E0401). Each monomorphized
//! call records its own type's price.
trait Priced {
    const PRICE: f64;
}

struct Cheap;
struct Dear;

impl Priced for Cheap {
    const PRICE: f64 = 0.001;
}

impl Priced for Dear {
    const PRICE: f64 = 2.5;
}

#[backstep::tool(cost = P::PRICE * 2.0)]
fn quote<P: Priced>(units: u32) -> u32 {
    units
}

#[backstep::tool(cost = N as f64 * 0.5)]
fn per_item<const N: usize>(units: u32) -> u32 {
    units
}

fn main() {
    assert_eq!(quote::<Cheap>(1), 1);
    assert_eq!(quote::<Dear>(2), 2);
    assert_eq!(per_item::<4>(3), 3);
    let log = backstep::log();
    let costs: Vec<backstep::Cost> = log.calls().iter().map(backstep::Call::cost).collect();
    assert_eq!(
        costs,
        [
            backstep::Cost::from_usd(0.002),
            backstep::Cost::from_usd(5.0),
            backstep::Cost::from_usd(2.0),
        ]
    );
}
