use autotel_presets::instrument_all;

#[instrument_all]
mod orders {
    #[autotel(skip)]
    pub struct Order;
}

fn main() {}
