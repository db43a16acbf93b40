struct Client;
struct Agent;

impl Agent {
    #[backstep::tool]
    fn search(&self, client: &Client, query: &str) -> String {
        let _ = client;
        query.to_string()
    }
}

fn main() {}
