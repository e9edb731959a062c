use autotel_presets::instrument_all;

#[instrument_all]
struct Order {
    id: u64,
}

fn main() {}
