use autotel_presets::instrument_all;

#[instrument_all]
mod orders {
    #[autotel(skip, level = "debug")]
    pub fn place() {}
}

fn main() {}
