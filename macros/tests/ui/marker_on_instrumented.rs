use autotel_presets::instrument_all;

#[instrument_all]
mod orders {
    #[autotel(name = "place")]
    #[tracing::instrument]
    pub fn place() {}
}

fn main() {}
