use autotel_presets::instrument_all;

#[instrument_all]
trait Store {
    fn get(&self) -> u8 {
        0
    }
}

fn main() {}
