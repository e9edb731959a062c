use autotel_presets::instrument_all;

#[instrument_all(level = "loud")]
mod orders {
    pub fn place() {}
}

fn main() {}
