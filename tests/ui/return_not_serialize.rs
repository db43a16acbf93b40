struct Page;

#[backstep::tool]
fn fetch(url: String) -> Page {
    let _ = url;
    Page
}

fn main() {}
