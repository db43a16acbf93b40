struct Client;

#[backstep::tool]
fn search((client, limit): (Client, u32), query: &str) -> String {
    let _ = client;
    format!("{query}{limit}")
}

fn main() {}
