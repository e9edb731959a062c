use autotel_presets::instrument_all;

#[instrument_all(record_args)]
mod orders {
    pub fn place() {}
}

fn main() {}
