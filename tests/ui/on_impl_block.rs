struct Agent;

#[backstep::tool]
impl Agent {
    fn search(&self, query: String) -> String {
        query
    }
}

fn main() {}
