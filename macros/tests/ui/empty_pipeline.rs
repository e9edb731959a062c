use autotel_presets::instrument_all;

#[instrument_all(pipeline = "")]
mod import {
    pub fn run() {}
}

fn main() {}
