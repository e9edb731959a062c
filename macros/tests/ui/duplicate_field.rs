use autotel_presets::instrument_all;

#[instrument_all(fields(tenant, tenant))]
mod orders {
    pub fn place(tenant: &str) -> usize {
        tenant.len()
    }
}

fn main() {}
