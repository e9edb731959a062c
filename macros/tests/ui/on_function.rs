use autotel_presets::instrument_all;

#[instrument_all]
fn charge() {}

fn main() {}
