struct Page;

#[backstep::tool]
async fn fetch(url: String) -> Page {
    let _ = url;
    Page
}

fn main() {}
