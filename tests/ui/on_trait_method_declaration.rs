trait Tools {
    #[backstep::tool]
    fn search(&self, query: String) -> String;
}

fn main() {}
