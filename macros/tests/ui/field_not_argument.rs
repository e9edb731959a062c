use autotel_presets::instrument_all;

#[instrument_all]
mod orders {
    #[autotel(fields(quantity, customer))]
    pub fn place(quantity: u32) -> u32 {
        quantity
    }
}

fn main() {}
