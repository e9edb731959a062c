use autotel_presets::instrument_all;

#[instrument_all(fields(tenant))]
mod orders {
    pub fn place(quantity: u32) -> u32 {
        quantity
    }
}

fn main() {}
