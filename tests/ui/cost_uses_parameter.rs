#[backstep::tool(cost = width as f64 * 0.001)]
fn render(width: u32) -> String {
    format!("{width}px")
}

fn main() {}
