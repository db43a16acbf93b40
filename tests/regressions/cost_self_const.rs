//! Regression: `cost = Self::PRICE` (a constant `f64` expression) in an `impl`
//! fails to compile: E0401 "can't use `Self` from outer item" (the cost is
//! evaluated in a `static` nested in the method).
struct Priced;

impl Priced {
    const PRICE: f64 = 0.5;

    #[backstep::tool(cost = Self::PRICE)]
    fn priced(&self, x: u32) -> u32 {
        x
    }
}

fn main() {
    assert_eq!(Priced.priced(1), 1);
    let log = backstep::log();
    let call = log.by_tool("priced").next().unwrap();
    assert_eq!(call.cost(), backstep::Cost::from_usd(0.5));
}
