use std::future::Future;

struct Page;

#[backstep::tool]
fn fetch(url: String) -> impl Future<Output = Page> {
    async move {
        let _ = url;
        Page
    }
}

fn main() {}
