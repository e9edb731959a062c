use autotel_presets::instrument_all;

#[instrument_all]
mod limits {
    #[autotel(level = "debug")]
    pub const fn max() -> u32 {
        10
    }
}

fn main() {}
