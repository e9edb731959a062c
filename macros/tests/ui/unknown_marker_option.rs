use autotel_presets::instrument_all;

#[instrument_all]
mod orders {
    #[autotel(ret)]
    pub fn place() {}
}

fn main() {}
